/**
 * The frame tap on a real call through the harness: caller frames in order with call times, agent
 * audio with play-out positions that match Twilio's mark echoes, and a barge-in cut at what the
 * caller heard (the truncate's own number).
 */

import assert from "node:assert/strict";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import {
  CallTap,
  type CallTapListener,
  type TapCutItem,
  tapPayloadBytes,
  type TappedCall,
} from "../../src/relay/frame_tap.ts";

/**
 * Allowed gap between the tap's play positions and the fake Twilio's echo times, ms: the fake plays in
 * real time on timers, which run late on a loaded machine (the suite runs twelve files at a time on two
 * cores); a wrong position (send time instead of play-out time) is off by the whole 1.5 s.
 */
const TOLERANCE_MS = 150;

interface Recorded {
  calls: TappedCall[];
  caller: { at: number; first: number; length: number }[];
  agent: { playAt: number; itemId: string; itemMs: number; ms: number }[];
  cuts: { at: number; items: readonly TapCutItem[] }[];
  ended: number[];
}

function recorder(): { recorded: Recorded; tap: (call: TappedCall) => CallTapListener } {
  const recorded: Recorded = { calls: [], caller: [], agent: [], cuts: [], ended: [] };
  const tap = (call: TappedCall): CallTapListener => {
    recorded.calls.push(call);
    return {
      callerFrame(at, payload) {
        const bytes = tapPayloadBytes(payload);
        recorded.caller.push({ at, first: bytes[0]!, length: bytes.length });
      },
      agentAudio(playAt, itemId, itemMs, payload) {
        recorded.agent.push({ playAt, itemId, itemMs, ms: tapPayloadBytes(payload).length / 8 });
      },
      agentCut(at, items) {
        recorded.cuts.push({ at, items });
      },
      ended(at) {
        recorded.ended.push(at);
      },
    };
  };
  return { recorded, tap };
}

Deno.test("the frame tap hears caller frames in order, agent audio where it played, and the cut at what was heard", async () => {
  const { recorded, tap } = recorder();
  const t = await startTestParley({ env: { DEFAULT_PERSONA: "tester" }, tap });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("response.create");

    // The caller: ten frames, each its own byte value, in real time.
    await sendFrames(call, { frame: (ms) => new Uint8Array(160).fill(0x60 + ms / 20), forMs: 200 });
    await session.waitFor(
      "input_audio_buffer.append",
      () => session.eventsOf("input_audio_buffer.append").length >= 10,
    );
    assert.deepEqual(recorded.calls.map((c) => [c.callSid, c.streamSid, c.persona]), [
      [call.callSid, call.streamSid, "tester"],
    ]);
    assert.deepEqual(recorded.caller.map((f) => f.first), Array.from({ length: 10 }, (_, i) => 0x60 + i));
    assert.ok(recorded.caller.every((f) => f.length === 160));
    const times = recorded.caller.map((f) => f.at);
    assert.ok(times[0]! >= 0 && times.every((at, i) => i === 0 || at >= times[i - 1]!), `in order: ${times}`);
    assert.ok(times.at(-1)! - times[0]! >= 9 * 20 - TOLERANCE_MS, `arrival times, in real time: ${times}`);

    // The agent: a 6 s greeting streamed faster than real time, cut 1.5 s in.
    const greeting = session.streamResponse({
      responseId: "resp_greet",
      itemId: "item_greet",
      audio: toneBytes(6000, 0x11),
      intervalMs: 60,
      inFlightAfterCancel: 3,
    });
    const start = await call.waitForEcho("item_greet:0");
    const echo = await call.waitForEcho("item_greet:1500");
    session.speechStarted();
    const truncate = await session.waitFor("conversation.item.truncate");
    await greeting;

    const chunks = recorded.agent.filter((a) => a.itemId === "item_greet");
    let offset = 0;
    for (const chunk of chunks) {
      assert.equal(chunk.itemMs, offset, "each chunk's place in its item follows the last");
      offset += chunk.ms;
    }
    const at1500 = chunks.find((c) => c.itemMs === 1500);
    assert.ok(at1500 !== undefined, "the mark item_greet:1500 names a chunk's start");
    const tapSpan = at1500.playAt - chunks[0]!.playAt;
    const echoSpan = echo.at - start.at;
    assert.ok(Math.abs(tapSpan - echoSpan) <= TOLERANCE_MS, `tap ${tapSpan} ms vs echoes ${echoSpan} ms`);
    assert.ok(chunks.every((c, i) => i === 0 || c.playAt >= chunks[i - 1]!.playAt), "play-out in order");
    assert.ok(
      chunks[0]!.playAt >= times.at(-1)! - TOLERANCE_MS,
      "the greeting played after the caller spoke",
    );

    assert.equal(recorded.cuts.length, 1);
    const [cut] = recorded.cuts;
    assert.deepEqual(cut!.items.map((i) => [i.itemId, Math.floor(i.heardMs)]), [
      ["item_greet", truncate.audio_end_ms],
    ]);
    assert.ok(
      Math.abs(cut!.at - (chunks[0]!.playAt + cut!.items[0]!.heardMs)) <= TOLERANCE_MS,
      `cut at ${cut!.at} ms; greeting from ${chunks[0]!.playAt} ms, heard ${cut!.items[0]!.heardMs} ms`,
    );

    call.close();
    await t.parley.shutdown();
    assert.equal(recorded.ended.length, 1);
    assert.ok(recorded.ended[0]! >= cut!.at);
  } finally {
    await t.close();
  }
});

Deno.test("a tap is asked once per call at its start, and may decline it", async () => {
  const seen: string[] = [];
  const t = await startTestParley({
    env: { DEFAULT_PERSONA: "tester" },
    tap: (call) => {
      seen.push(call.callSid);
      return undefined;
    },
  });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("response.create");
    await sendFrames(call, { frame: new Uint8Array(160).fill(0x70), forMs: 60 });
    await session.waitFor(
      "input_audio_buffer.append",
      () => session.eventsOf("input_audio_buffer.append").length >= 3,
    );
    assert.deepEqual(seen, [call.callSid]);
    call.close();
  } finally {
    await t.close();
  }
});

Deno.test("a tap listener that throws is detached and logged; the call goes on", async () => {
  let heard = 0;
  const t = await startTestParley({
    env: { DEFAULT_PERSONA: "tester" },
    tap: () => ({
      callerFrame() {
        heard++;
        throw new Error("disk full");
      },
    }),
  });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("response.create");
    await sendFrames(call, { frame: new Uint8Array(160).fill(0x70), forMs: 100 });
    await session.waitFor(
      "input_audio_buffer.append",
      () => session.eventsOf("input_audio_buffer.append").length >= 5,
    );
    assert.match(
      await t.waitForLog(/The frame tap failed/),
      /The frame tap failed on CallSid=CA\w+: disk full; it hears no more of this call/,
    );
    assert.equal(heard, 1, "the listener is not called again");
    await session.streamResponse({ responseId: "resp_1", itemId: "item_1", audio: toneBytes(100, 0x31) });
    await call.waitFor("media");
    call.close();
  } finally {
    await t.close();
  }
});

Deno.test("a caller frame's Twilio timestamp reaches the listener in call time, offset by the first frame's arrival", () => {
  const heard: [number, number | undefined][] = [];
  const tap = new CallTap({ callerFrame: (at, _payload, streamAt) => void heard.push([at, streamAt]) }, 1000);
  tap.callerFrame(1300, "AAAA", undefined); // no timestamp: no stream time, and no offset taken from it
  tap.callerFrame(1500, "AAAA", 40); // the first timestamp: call time 500 is stream time 40
  tap.callerFrame(2400, "AAAA", 60); // 880 ms late by arrival, spoken 20 ms after the one before
  tap.callerFrame(2410, "AAAA", undefined);
  assert.deepEqual(heard, [[300, undefined], [500, 500], [1400, 520], [1410, undefined]]);
});
