/**
 * A connection flood on the real process with few file descriptors (`prlimit --nofile=256`): the
 * live call goes on both ways, new connections are shed while descriptors are short (one warning),
 * the server answers again once the flood ends, and `/metrics` counts the episode.
 */

import assert from "node:assert/strict";
import { FakeRealtimeServer, toneBytes } from "../testing/fake_realtime.ts";
import { within } from "../testing/within.ts";
import {
  listeningPort,
  placeTwilioCall,
  reap,
  spawnParley,
  TEST_PERSONAS_DIR,
} from "../testing/parley_process.ts";

const AUTH_TOKEN = "flood-auth-token-0123456789";
const PUBLIC_BASE_URL = "https://parley.test";
const FD_LIMIT = 256;

/** Sets the process's descriptor limit, soft and hard, as `ulimit -n` would have. */
async function limitDescriptors(pid: number, limit: number): Promise<void> {
  const { code, stderr } = await new Deno.Command("prlimit", {
    args: ["--pid", String(pid), `--nofile=${limit}:${limit}`],
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

/**
 * `GET path` on a new connection (fetch would reuse a pooled one, accepted before the flood), with
 * `Connection: close`; resolves with the status and body.
 */
async function freshGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: parley\r\nConnection: close\r\n\r\n`),
    );
    const text = await new Response(conn.readable).text();
    const status = Number(text.match(/^HTTP\/1\.1 (\d{3})/)?.[1]);
    return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
  } catch (error) {
    try {
      conn.close();
    } catch { /* closed by reading to the end */ }
    throw error;
  }
}

/** Answers once `GET /healthz` on a new connection does, trying every 100 ms for up to `ms`. */
async function answersAgain(port: number, ms: number): Promise<number> {
  const deadline = performance.now() + ms;
  for (;;) {
    try {
      return (await freshGet(port, "/healthz")).status;
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

Deno.test("a connection flood beyond the descriptor limit kills no call, and the server answers again after it", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const parley = await spawnParley("start", {
    PORT: "0",
    PUBLIC_BASE_URL,
    OPENAI_API_KEY: "sk-flood-key-0123456789",
    OPENAI_REALTIME_URL: upstream.url,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    METRICS_PUBLIC: "on",
    PERSONAS_DIR: TEST_PERSONAS_DIR,
    DEFAULT_PERSONA: "tester",
    INBOUND_PERSONA: "quiet",
    DATA_DIR: dataDir,
  });
  const flood: Deno.TcpConn[] = [];
  try {
    const port = await listeningPort(parley);
    await limitDescriptors(parley.child.pid, FD_LIMIT);

    const call = await placeTwilioCall({ port, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC_BASE_URL }, {
      persona: "tester",
    });
    call.start({ persona: "tester" });
    const session = await upstream.session(0);
    await session.waitFor("response.create");

    // Twice the limit: idle connections, and every fourth one a request that never ends.
    const half = new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: parley\r\n");
    let refused = 0;
    for (let i = 0; i < 2 * FD_LIMIT; i++) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        flood.push(conn);
        if (i % 4 === 0) await conn.write(half).catch(() => {});
      } catch {
        refused++; // shed: the listener is closed while descriptors are short
      }
    }

    // The live call goes on both ways during the flood.
    await session.streamResponse({ responseId: "r1", itemId: "i1", audio: toneBytes(200, 7) });
    await within(call.waitFor("media"), "agent audio during the flood");
    call.sendMedia(new Uint8Array(160).fill(3));
    await within(session.waitFor("input_audio_buffer.append"), "caller audio during the flood");

    for (const conn of flood.splice(0)) conn.close();
    assert.equal(await answersAgain(port, 5_000), 200, "answers again once the flood ended");
    await within(parley.stderr.waitFor(/Out of file descriptors/), "the warning");

    const metrics = (await freshGet(port, "/metrics")).body;
    assert.match(metrics, /^parley_fd_exhaustion_total [1-9]\d*$/m);
    assert.match(metrics, /^parley_listener_restarts_total [1-9]\d*$/m);
    assert.match(metrics, /^parley_accepting 1$/m);

    // Still the same call, both ways, after the flood.
    call.sendMedia(new Uint8Array(160).fill(5));
    await within(session.waitFor("input_audio_buffer.append", (m) => m !== undefined), "caller audio after");
    call.stop();
    await within(parley.stdout.waitFor(/Call ended: .*reason=caller_hung_up/), "the call ends normally");
    assert.equal(
      parley.stderr.lines.filter((line) => /Out of file descriptors/.test(line)).length,
      1,
      `one warning for the episode (${refused} connection(s) refused)`,
    );
    parley.child.kill("SIGTERM");
    assert.equal((await within(parley.child.status, "the exit")).code, 0);
  } finally {
    for (const conn of flood) conn.close();
    await reap(parley);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
