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
// @ts-types="@types/ws"
import { WebSocketServer } from "ws";

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

Deno.test("an upstream that keeps sending is not pinged; once it goes quiet the pings start", async () => {
  const keepalive = { pingEveryMs: 100, deadAfterMs: 2_000 };
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  const pings: number[] = [];
  let quietFrom = Infinity;
  const twoQuietPings = Promise.withResolvers<void>();
  let chatter: ReturnType<typeof setInterval> | undefined;
  server.on("connection", (socket) => {
    socket.on("ping", () => {
      pings.push(performance.now());
      if (pings.filter((at) => at > quietFrom).length === 2) twoQuietPings.resolve();
    });
    // An agent talking: an event every 5 ms.
    chatter = setInterval(() => socket.send('{"type":"response.output_audio.delta"}'), 5);
  });
  const opened = Promise.withResolvers<void>();
  const closed = Promise.withResolvers<number>();
  // 200 events at one per 5 ms: about 1 s, ten keepalive ticks that each would have pinged before.
  const heard200 = Promise.withResolvers<void>();
  let heard = 0;
  const port = (server.address() as { port: number }).port;
  const upstream = openAIConnector(keepalive)({
    url: `ws://127.0.0.1:${port}/v1/realtime`,
    apiKey: "sk-test",
  }, {
    onOpen: () => opened.resolve(),
    onMessage: () => void (++heard === 200 && heard200.resolve()),
    onClose: (code) => closed.resolve(code),
    onFailure: (failure) => opened.reject(new Error(failure.message)),
  });
  try {
    await within(opened.promise, "the handshake");
    await within(heard200.promise, "200 events from the server", 5_000);
    assert.ok(pings.length <= 1, `${pings.length} pings while the server kept sending`);
    clearInterval(chatter);
    quietFrom = performance.now();
    // Quiet now: pings go out (answered by ws's pongs, so the socket stays open).
    await within(twoQuietPings.promise, "two pings once the server went quiet", 2_000);
    upstream.close();
    assert.equal(await within(closed.promise, "the close"), 1000);
  } finally {
    clearInterval(chatter);
    upstream.close();
    for (const client of server.clients) client.terminate();
    await new Promise((resolve) => server.close(resolve));
  }
});
