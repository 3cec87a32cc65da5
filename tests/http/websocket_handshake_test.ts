/**
 * A WebSocket route's handshake must be one Deno can upgrade: `Upgrade: websocket` alone is not
 * enough. Without `Connection: Upgrade` or without `Sec-WebSocket-Key` the softphone and media sockets
 * answer 400 naming the header, before anything is upgraded, claimed or logged as a crash (it was a
 * 500 with a stack in the log, and the media socket's stream token was spent on it).
 */

import assert from "node:assert/strict";
import { newCallSid, startTestParley, type TestParley } from "../../testing/parley_harness.ts";

const API_TOKEN = "handshake-test-token-0123456789abcdef";
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** Sends `GET path` with exactly these headers (no client adds or drops one) and reads the answer. */
async function rawGet(
  t: TestParley,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const port = Number(new URL(t.origin).port);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
    let received = new Uint8Array(0);
    const buffer = new Uint8Array(16 * 1024);
    const decoder = new TextDecoder();
    while (true) {
      const text = decoder.decode(received);
      const end = text.indexOf("\r\n\r\n");
      if (end !== -1) {
        const head = text.slice(0, end);
        const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? "0");
        const body = new TextEncoder().encode(text).subarray(end + 4);
        if (body.length >= length || /^HTTP\/1\.1 101/.test(head)) {
          return { status: Number(head.split(" ")[1]), body: decoder.decode(body.subarray(0, length)) };
        }
      }
      const n = await conn.read(buffer);
      if (n === null) throw new Error(`The connection closed after ${JSON.stringify(text)}`);
      const next = new Uint8Array(received.length + n);
      next.set(received);
      next.set(buffer.subarray(0, n), received.length);
      received = next;
    }
  } finally {
    conn.close();
  }
}

async function signIn(t: TestParley): Promise<string> {
  const response = await fetch(`${t.origin}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { origin: t.origin, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: API_TOKEN, next: "/calling" }),
  });
  await response.body?.cancel();
  assert.equal(response.status, 303);
  return response.headers.get("set-cookie")!.split(";")[0]!;
}

function unhandled(t: TestParley): string[] {
  return t.logs.filter((l) => /Unhandled error/.test(l.line)).map((l) => l.line);
}

Deno.test("softphone socket: a handshake without Connection: Upgrade or Sec-WebSocket-Key is a 400 naming the header", async () => {
  const t = await startTestParley({ env: { API_TOKEN } });
  try {
    const cookie = await signIn(t);
    const signedIn = { cookie, origin: t.origin, upgrade: "websocket", "sec-websocket-version": "13" };
    const cases: [string, Record<string, string>, string][] = [
      [
        "no Connection header",
        { ...signedIn, "sec-websocket-key": KEY },
        "Connection header is missing: a WebSocket handshake to /api/softphone sends Connection: Upgrade",
      ],
      [
        "Connection without Upgrade",
        { ...signedIn, connection: "keep-alive", "sec-websocket-key": KEY },
        'Connection "keep-alive" does not include Upgrade: a WebSocket handshake to /api/softphone sends Connection: Upgrade',
      ],
      [
        "no Sec-WebSocket-Key",
        { ...signedIn, connection: "Upgrade" },
        "Sec-WebSocket-Key header is missing: a WebSocket handshake to /api/softphone sends one",
      ],
      [
        "an empty Sec-WebSocket-Key",
        { ...signedIn, connection: "keep-alive, Upgrade", "sec-websocket-key": " " },
        "Sec-WebSocket-Key header is missing: a WebSocket handshake to /api/softphone sends one",
      ],
    ];
    for (const [name, headers, error] of cases) {
      const { status, body } = await rawGet(t, "/api/softphone?persona=alex", headers);
      assert.equal(status, 400, `${name}: ${status} ${body}`);
      assert.deepEqual(JSON.parse(body), { error }, name);
    }
    assert.deepEqual(unhandled(t), []);
    assert.equal(t.events.filter((e) => e.type === "call.webhook").length, 0, "no call began");
    // A whole handshake (Connection listing Upgrade among others) still opens the socket.
    const whole = await rawGet(t, "/api/softphone?persona=alex", {
      ...signedIn,
      connection: "keep-alive, Upgrade",
      "sec-websocket-key": KEY,
    });
    assert.equal(whole.status, 101);
  } finally {
    await t.close();
  }
});

Deno.test("media socket: a signed handshake without Sec-WebSocket-Key is a 400 and leaves its stream token unspent", async () => {
  const t = await startTestParley();
  try {
    const callSid = newCallSid();
    const streamUrl = await t.answerWebhook(callSid);
    const path = new URL(streamUrl).pathname;
    const signed = { ...t.twilioHeaders(streamUrl), upgrade: "websocket", "sec-websocket-version": "13" };
    const noKey = await rawGet(t, path, { ...signed, connection: "Upgrade" });
    assert.equal(noKey.status, 400, noKey.body);
    assert.deepEqual(JSON.parse(noKey.body), {
      error: "Sec-WebSocket-Key header is missing: a WebSocket handshake to /twilio-realtime-voice sends one",
    });
    const noConnection = await rawGet(t, path, { ...signed, "sec-websocket-key": KEY });
    assert.equal(noConnection.status, 400, noConnection.body);
    assert.match(JSON.parse(noConnection.body).error, /^Connection header is missing: /);
    assert.deepEqual(unhandled(t), []);
    // The token is still good: Twilio's own handshake opens the call.
    const call = await t.connectStream(streamUrl, callSid);
    call.start({ persona: "tester" });
    await t.waitForEvent("call.started", (e) => e.callSid === callSid);
    call.stop();
    await call.closed;
  } finally {
    await t.close();
  }
});
