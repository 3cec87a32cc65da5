/**
 * A receiver that misbehaves on some requests: one it never answers (the connection hangs) holds up
 * only itself, not the messages after it; an answer with a 2 GB body is taken by its status without
 * reading the body; a reset connection is an error retried later. Timeouts are the test's (the
 * worker's `timeoutMs`), so nothing waits 10 s.
 */

import assert from "node:assert/strict";
import { shortCall, startInstance } from "./_call.ts";
import { within } from "../../testing/within.ts";

/** What the hostile receiver does with a request, by the webhook's type. */
type Behaviour = "hang" | "huge" | "reset" | "ok";

/** A raw HTTP/1.1 receiver over TCP: it answers each request as `behaviour` says for its type. */
function hostileReceiver(behaviour: (type: string) => Behaviour) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.TcpConn>();
  const seen: { type: string; id: string; behaviour: Behaviour }[] = [];
  const waiters: { predicate: () => boolean; resolve: () => void }[] = [];
  let hugeBytesSent = 0;
  const changed = () => {
    for (const w of waiters.filter((w) => w.predicate())) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const serve = async (conn: Deno.TcpConn) => {
    conns.add(conn);
    try {
      const buffer = new Uint8Array(65_536);
      let text = "";
      // One request per connection is enough: the worker's fetch opens another when this one is busy.
      while (!/\r\n\r\n[\s\S]*\}$/.test(text)) {
        const n = await conn.read(buffer);
        if (n === null) return;
        text += new TextDecoder().decode(buffer.subarray(0, n));
      }
      const type = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4)).type as string;
      const id = /webhook-id: (\S+)/i.exec(text)?.[1] ?? "";
      const b = behaviour(type);
      seen.push({ type, id, behaviour: b });
      changed();
      if (b === "hang") {
        await new Promise<void>((resolve) => waiters.push({ predicate: () => closing, resolve }));
        return;
      }
      if (b === "reset") return; // closed without an answer
      if (b === "ok") {
        await conn.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
        return;
      }
      await conn.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 2147483648\r\n\r\n"));
      const chunk = new Uint8Array(1 << 20);
      for (let i = 0; i < 2048; i++) {
        await conn.write(chunk);
        hugeBytesSent += chunk.length;
      }
    } catch {
      // The worker hung up (a timeout, or the huge body cancelled): expected.
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  let closing = false;
  const accepting = (async () => {
    for await (const conn of listener) void serve(conn);
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${listener.addr.port}/hooks`,
    seen,
    hugeBytesSent: () => hugeBytesSent,
    waitFor(predicate: () => boolean): Promise<void> {
      if (predicate()) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
    async close() {
      closing = true;
      changed();
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await accepting;
    },
  };
}

Deno.test("a receiver that never answers one message holds up only that one: the next is delivered meanwhile", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_webhooks_hang_" });
  const receiver = hostileReceiver((type) => type === "call.started" ? "hang" : "ok");
  const app = await startInstance(dataDir, receiver.url, { timeoutMs: 60_000 });
  try {
    const callSid = await shortCall(app.t);
    await within(
      receiver.waitFor(() => receiver.seen.some((s) => s.type === "call.started")),
      "the hung one",
    );
    // call.started hangs for a minute: call.ended, enqueued after it, goes out meanwhile.
    await within(
      receiver.waitFor(() => receiver.seen.some((s) => s.type === "call.ended")),
      "call.ended while call.started hangs",
    );
    assert.deepEqual(receiver.seen.map((s) => s.id).sort(), [
      `msg_call_ended_${callSid}`,
      `msg_call_started_${callSid}`,
    ]);
  } finally {
    await app.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a 2 GB answer is taken by its status without reading the body; a reset is retried; a hang times out", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_webhooks_hostile_" });
  let started = 0;
  const receiver = hostileReceiver((type) =>
    type === "call.ended" ? "huge" : ++started === 1 ? "reset" : started === 2 ? "hang" : "ok"
  );
  const app = await startInstance(dataDir, receiver.url, {
    timeoutMs: 300,
    firstRetryMs: 50,
    maxRetryMs: 50,
  });
  try {
    const callSid = await shortCall(app.t);
    await within(
      app.t.waitForLog(/Webhook call\.ended \S+ delivered \(HTTP 200/),
      "the huge answer's status",
    );
    await within(app.t.waitForLog(/Webhook call\.started \S+ attempt 1 failed \(TypeError/), "the reset");
    await within(
      app.t.waitForLog(/Webhook call\.started \S+ attempt 2 failed \(timeout after 300 ms\)/),
      "the hang",
    );
    await within(
      app.t.waitForLog(/Webhook call\.started \S+ delivered \(HTTP 200, attempt 3\)/),
      "then delivered",
    );
    assert.deepEqual(receiver.seen.map((s) => s.behaviour).sort(), ["hang", "huge", "ok", "reset"]);
    assert.ok(receiver.seen.every((s) => s.id.endsWith(callSid)));
    // What the receiver could push before the worker hung up: socket buffers, not 2 GB.
    const sent = receiver.hugeBytesSent();
    assert.ok(sent < 64 * 1024 * 1024, `${(sent / 1024 / 1024).toFixed(1)} MB of the 2 GB body was taken`);
  } finally {
    await app.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
