/**
 * The upstream handshake's time limit: a server that accepts the TCP connection and never answers
 * the upgrade fails the session after the limit, in the words `ws` used (the limit is Parley's own
 * timer, see `openAIConnector`), and never opens it. Real sockets on 127.0.0.1, the limit scaled down.
 */

import assert from "node:assert/strict";
import { openAIConnector, type UpstreamFailure } from "../../src/engines/upstream_socket.ts";
import { within } from "../../testing/within.ts";

const HANDSHAKE_TIMEOUT_MS = 200;

Deno.test("a handshake that gets no answer fails after the time limit, saying so", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) conns.push(conn); // read nothing, answer nothing
  })();
  try {
    const failed = Promise.withResolvers<UpstreamFailure & { at: number }>();
    let opened = false;
    const startedAt = performance.now();
    openAIConnector({ handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS })({
      url: `ws://127.0.0.1:${listener.addr.port}/v1/realtime`,
      apiKey: "sk-test",
    }, {
      onOpen: () => opened = true,
      onMessage() {},
      onClose() {},
      onFailure: (failure) => failed.resolve({ ...failure, at: performance.now() }),
    });
    const failure = await within(failed.promise, "the handshake's time limit", 5_000);
    assert.equal(failure.status, undefined, "told as unreachable, not as a refusal");
    assert.match(
      failure.message,
      /^Cannot reach OpenAI at 127\.0\.0\.1:\d+ \(Opening handshake has timed out\): check the network/,
    );
    assert.ok(
      failure.at - startedAt >= HANDSHAKE_TIMEOUT_MS - 1,
      `failed after ${failure.at - startedAt} ms`,
    );
    assert.equal(conns.length, 1, "the connection itself was made");
    assert.equal(opened, false);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const conn of conns) conn.close();
  }
});
