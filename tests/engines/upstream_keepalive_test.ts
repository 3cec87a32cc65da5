/**
 * The upstream keepalive: an open socket whose server has gone silent without a FIN or a close
 * frame (half-open) is closed by Parley within a few pings, so the call reconnects; a server that
 * answers pings, even one that sends nothing else, is left alone. Real sockets on 127.0.0.1, with
 * the keepalive scaled down so the test is quick.
 */

import assert from "node:assert/strict";
import { openAIConnector } from "../../src/engines/upstream_socket.ts";
import { DeafUpstream } from "../../testing/deaf_upstream.ts";
import { within } from "../../testing/within.ts";

const KEEPALIVE = { pingEveryMs: 50, deadAfterMs: 250 };

function open(url: string) {
  const opened = Promise.withResolvers<number>();
  const closed = Promise.withResolvers<{ code: number; at: number }>();
  const upstream = openAIConnector(KEEPALIVE)({ url, apiKey: "sk-test" }, {
    onOpen: () => opened.resolve(performance.now()),
    onMessage() {},
    onClose: (code) => closed.resolve({ code, at: performance.now() }),
    onFailure: (failure) => opened.reject(new Error(failure.message)),
  });
  return { upstream, opened: opened.promise, closed: closed.promise };
}

Deno.test("an upstream that stops answering (half-open) is closed by the keepalive within a few pings", async () => {
  const deaf = DeafUpstream.start();
  try {
    const { opened, closed } = open(deaf.url);
    const openedAt = await within(opened, "the handshake");
    const { code, at } = await within(closed, "the keepalive to close a silent socket", 3_000);
    assert.equal(code, 1006, "terminated without a close handshake");
    const silentMs = at - openedAt;
    assert.ok(silentMs >= KEEPALIVE.deadAfterMs, `closed after ${silentMs} ms, before the dead bound`);
    assert.ok(
      silentMs < KEEPALIVE.deadAfterMs + 4 * KEEPALIVE.pingEveryMs + 500,
      `closed after ${silentMs} ms`,
    );
  } finally {
    await deaf.close();
  }
});

Deno.test("an upstream that answers pings but sends nothing else stays open", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { response } = Deno.upgradeWebSocket(request, { idleTimeout: 0 });
    return response; // Deno answers pings with pongs on its own; this server says nothing else.
  });
  try {
    const { upstream, opened, closed } = open(`ws://127.0.0.1:${server.addr.port}/v1/realtime`);
    await within(opened, "the handshake");
    // No event marks "still alive": wait several dead bounds and check nothing closed.
    const early = await Promise.race([
      closed.then(({ code }) => `closed (${code})`),
      new Promise<string>((resolve) => setTimeout(() => resolve("open"), 4 * KEEPALIVE.deadAfterMs)),
    ]);
    assert.equal(early, "open");
    upstream.close();
    assert.equal((await within(closed, "the close")).code, 1000);
  } finally {
    await server.shutdown();
  }
});
