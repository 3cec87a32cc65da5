/**
 * A huge frame on the media socket: Deno buffers and decodes a whole frame (up to its own 64 MiB
 * cap) before Parley sees it, so Parley's answer is to close that socket (1009) on the first frame
 * over 4 MiB, allowing one such stall per socket instead of a stream of them. A frame over 64 KiB
 * but under 4 MiB is only ignored; a healthy call beside it goes on.
 */

import assert from "node:assert/strict";
import { TwilioLeg } from "../../src/relay/twilio_leg.ts";
import {
  CLOSE_ON_FRAME_CHARS,
  closeOnHugeFrames,
  type TwilioInbound,
} from "../../src/twilio/media_stream.ts";
import { toBase64, toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";

Deno.test("media socket: a frame over 4 MiB closes that socket; other calls go on", async () => {
  const t = await startTestParley();
  try {
    const healthy = await t.startCall({ persona: "tester" });
    const healthySession = await t.upstream.session(0);
    await healthySession.waitFor("session.update");
    const hostile = await t.startCall({ persona: "tester" });
    const hostileSession = await t.upstream.session(1);
    await hostileSession.waitFor("session.update");
    const hostileEnded = t.waitForEvent("call.ended", (e) => e.callSid === hostile.callSid);

    // Over 64 KiB: ignored, the call goes on (a good frame after it still arrives).
    hostile.sendRaw(JSON.stringify({ event: "media", media: { payload: "A".repeat(2_000_000) } }));
    const good = new Uint8Array(160).fill(7);
    hostile.sendMedia(good);
    await hostileSession.waitFor("input_audio_buffer.append", (e) => e.audio === toBase64(good));

    // Over 4 MiB: the socket is closed at once; the good frame after it never reaches OpenAI.
    hostile.sendRaw("x".repeat(CLOSE_ON_FRAME_CHARS + 1));
    hostile.sendMedia(new Uint8Array(160).fill(9));
    // Parley closes with 1009; what the peer reports depends on what it was still sending.
    await within(hostile.closed, "the hostile socket to close");
    assert.match(
      await t.waitForLog(/Closed the media socket of CallSid=CA[0-9a-f]{32}: a frame of \d+ characters/),
      new RegExp(`a frame of ${CLOSE_ON_FRAME_CHARS + 1} characters`),
    );
    assert.equal(
      hostileSession.eventsOf("input_audio_buffer.append").length,
      1,
      "nothing after the huge frame was relayed",
    );
    // The record says who closed the socket and why.
    assert.equal(
      (await within(hostileEnded, "the hostile call's end")).detail,
      `Parley closed the media socket: a frame of ${CLOSE_ON_FRAME_CHARS + 1} characters`,
    );

    // The healthy call still relays both ways.
    healthy.sendMedia(new Uint8Array(160).fill(3));
    await healthySession.waitFor("input_audio_buffer.append");
    await healthySession.streamResponse({ responseId: "r1", itemId: "i1", audio: toneBytes(100, 3) });
    await healthy.waitFor("media");
    healthy.stop();
    await healthy.closed;
  } finally {
    await t.close();
  }
});

Deno.test("the huge-frame guard adds no listener of its own: the leg's one listener closes on a huge frame", async () => {
  const read: TwilioInbound[] = [];
  const reported: number[] = [];
  const listenersAdded: string[] = [];
  const closedWith: (number | undefined)[] = [];
  const legClosed = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    const add = socket.addEventListener.bind(socket);
    socket.addEventListener = ((type: string, ...rest: [EventListener, AddEventListenerOptions?]) => {
      listenersAdded.push(type);
      add(type, ...rest);
    }) as typeof socket.addEventListener;
    const close = socket.close.bind(socket);
    socket.close = (code?: number, reason?: string) => {
      closedWith.push(code);
      close(code, reason);
    };
    closeOnHugeFrames(socket, (size) => reported.push(size));
    new TwilioLeg(socket, { onMessage: (m) => read.push(m), onClose: () => legClosed.resolve() });
    return response;
  });
  const client = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
  const clientClosed = new Promise<CloseEvent>((resolve) => client.onclose = resolve);
  await new Promise((resolve) => client.onopen = resolve);
  try {
    // The leg's `onmessage` is itself a listener (an event handler attribute): the only one.
    assert.equal(listenersAdded.filter((type) => type === "message").length, 1, "one message listener");
    client.send('{"event":"connected"}');
    client.send("x".repeat(CLOSE_ON_FRAME_CHARS + 1));
    client.send('{"event":"stop"}'); // after the huge frame: never read
    await within(clientClosed, "the socket to close");
    await legClosed.promise;
    // Closed with 1009. (What the client reports depends on what it was still sending when the close
    // came: its "stop" may meet a socket already gone, and a loaded machine makes that likely.)
    assert.deepEqual(closedWith, [1009]);
    assert.deepEqual(read, [{ event: "connected" }]);
    assert.deepEqual(reported, [CLOSE_ON_FRAME_CHARS + 1]);
  } finally {
    await server.shutdown();
  }
});
