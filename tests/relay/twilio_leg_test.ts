/**
 * The Twilio leg over a real Media Stream socket: parsed frames in, Twilio's JSON out, and nothing
 * sent before `start` or after the socket closed.
 */

import assert from "node:assert/strict";
import { TwilioLeg } from "../../src/relay/twilio_leg.ts";
import type { TwilioInbound } from "../../src/twilio/media_stream.ts";

/** A server whose one socket is wrapped in a TwilioLeg, and the client end of it. */
async function legPair() {
  const received: TwilioInbound[] = [];
  const inWaiters: (() => void)[] = [];
  let closed = 0;
  const legClosed = Promise.withResolvers<void>();
  const { promise: legReady, resolve } = Promise.withResolvers<TwilioLeg>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    const leg = new TwilioLeg(socket, {
      onMessage: (m) => {
        received.push(m);
        inWaiters.splice(0).forEach((w) => w());
      },
      onClose: () => {
        closed++;
        legClosed.resolve();
      },
    });
    socket.onopen = () => resolve(leg);
    return response;
  });
  const client = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
  const fromLeg: string[] = [];
  const waiters: (() => void)[] = [];
  client.onmessage = (e) => {
    fromLeg.push(e.data);
    waiters.splice(0).forEach((w) => w());
  };
  const leg = await legReady;
  await new Promise((r) => client.readyState === WebSocket.OPEN ? r(null) : client.onopen = r);
  return {
    leg,
    client,
    received,
    fromLeg,
    closed: () => closed,
    legClosed: legClosed.promise,
    async next(count: number) {
      while (fromLeg.length < count) await new Promise<void>((r) => waiters.push(r));
    },
    async nextIn(count: number) {
      while (received.length < count) await new Promise<void>((r) => inWaiters.push(r));
    },
    async [Symbol.asyncDispose]() {
      if (client.readyState !== WebSocket.CLOSED) {
        const gone = new Promise((r) => client.addEventListener("close", r));
        client.close();
        await gone;
      }
      await server.shutdown();
    },
  };
}

Deno.test("twilio leg parses frames and refuses binary ones without throwing", async () => {
  await using pair = await legPair();
  pair.client.send(JSON.stringify({ event: "mark", streamSid: "MZ1", mark: { name: "item_1:0" } }));
  pair.client.send(new Uint8Array([1, 2, 3]));
  pair.client.send("{not json");
  await pair.nextIn(3);
  assert.deepEqual(pair.received, [
    { event: "mark", name: "item_1:0" },
    { event: "invalid", problem: "binary frame (Twilio only sends text)" },
    { event: "invalid", problem: "not JSON" },
  ]);
});

Deno.test("twilio leg sends nothing before start, then media between its marks, and clear", async () => {
  await using pair = await legPair();
  assert.equal(pair.leg.sendAudio("AAAA", "i:0", "i:100"), false, "no stream yet");
  pair.leg.clear();
  pair.leg.sendMark("i:5");
  assert.equal(pair.leg.started, false);
  pair.leg.begin("MZ42");
  assert.equal(pair.leg.sendAudio("AAAA", "i:0", "i:100"), true);
  pair.leg.clear();
  await pair.next(4);
  assert.deepEqual(pair.fromLeg.map((t) => JSON.parse(t)), [
    { event: "mark", streamSid: "MZ42", mark: { name: "i:0" } },
    { event: "media", streamSid: "MZ42", media: { payload: "AAAA" } },
    { event: "mark", streamSid: "MZ42", mark: { name: "i:100" } },
    { event: "clear", streamSid: "MZ42" },
  ]);
});

Deno.test("twilio leg reports Twilio closing, and sends nothing after", async () => {
  await using pair = await legPair();
  pair.leg.begin("MZ1");
  const gone = new Promise((r) => pair.client.addEventListener("close", r));
  pair.client.close();
  await gone;
  await pair.legClosed;
  assert.equal(pair.leg.open, false);
  assert.equal(pair.leg.sendAudio("AAAA", undefined, undefined), false);
  pair.leg.close(); // idempotent on a closed socket
  assert.equal(pair.closed(), 1);
});
