/**
 * Agent audio and barge-in, driven directly: a scripted clock, and a Twilio leg over an in-memory
 * socket that records what would go to Twilio (the end-to-end behaviour through real sockets is in
 * barge_in_test.ts).
 */

import assert from "node:assert/strict";
import { createRelayCounters } from "../../src/calls/relay_counters.ts";
import { BargeIn, type Cut, MAX_REMEMBERED_CUTS } from "../../src/relay/barge_in.ts";
import { type TurnLatency, TurnTimer } from "../../src/relay/turn_timer.ts";
import { type MediaSocket, TwilioLeg } from "../../src/relay/twilio_leg.ts";

/** 100 ms of μ-law silence, base64. */
const AUDIO_100MS = btoa(String.fromCharCode(...new Uint8Array(800).fill(0xff)));

function setup(gateMs = 0) {
  const now = { t: 0, reads: 0 };
  const toTwilio: Record<string, unknown>[] = [];
  const socket: MediaSocket = {
    readyState: 1,
    send: (text) => toTwilio.push(JSON.parse(text)),
    close() {},
    onmessage: null,
    onclose: null,
    onerror: null,
  };
  const leg = new TwilioLeg(socket, { onMessage() {}, onClose() {} });
  leg.begin("MZ1");
  const latencies: TurnLatency[] = [];
  const turns = new TurnTimer((latency) => latencies.push(latency));
  const counters = createRelayCounters();
  const cuts: Cut[] = [];
  const waiters: (() => void)[] = [];
  const state = new BargeIn({
    leg,
    turns,
    counters,
    now: () => {
      now.reads++;
      return now.t;
    },
    onCut: (cut) => {
      cuts.push(cut);
      waiters.splice(0).forEach((w) => w());
    },
  });
  state.gateMs = gateMs;
  const sent = (type: string) => toTwilio.filter((m) => m.event === type);
  return {
    now,
    state,
    cuts,
    counters,
    turns,
    latencies,
    sent,
    nextCut: () => new Promise<void>((r) => waiters.push(r)),
  };
}

Deno.test("agent audio goes to Twilio untouched between marks, and the tail is marked when the answer ends", () => {
  const { state, sent, counters } = setup();
  state.responseStarted("resp_1");
  state.agentAudio("resp_1", "item_1", AUDIO_100MS);
  state.agentAudio("resp_1", "item_1", AUDIO_100MS.slice(0, 400)); // 37.5 ms: below the mark interval
  state.responseDone("resp_1");
  assert.deepEqual(sent("media").map((m) => (m.media as { payload: string }).payload), [
    AUDIO_100MS,
    AUDIO_100MS.slice(0, 400),
  ]);
  assert.deepEqual(sent("mark").map((m) => (m.mark as { name: string }).name), [
    "item_1:0",
    "item_1:100",
    "item_1:138",
  ]);
  assert.equal(counters.framesToTwilio, 2);
});

Deno.test("barge-in clears Twilio, cuts at what was heard and drops the cut answer's late deltas", () => {
  const { now, state, cuts, sent, counters } = setup();
  state.responseStarted("resp_1");
  for (let i = 0; i < 10; i++) state.agentAudio("resp_1", "item_1", AUDIO_100MS);
  now.t = 100;
  state.markEcho("item_1:0");
  now.t = 400;
  state.callerStarted();
  assert.equal(sent("clear").length, 1);
  assert.deepEqual(cuts, [{
    at: 400,
    items: [{ itemId: "item_1", responseId: "resp_1", heardMs: 300, sentMs: 1000 }],
    activeResponse: "resp_1",
    staleOnly: false,
  }]);
  assert.equal(state.heardOf("item_1"), 300);
  assert.equal(state.unplayedMs(500), 0, "the cut audio is forgotten");
  const media = sent("media").length;
  state.agentAudio("resp_1", "item_1", AUDIO_100MS);
  assert.equal(sent("media").length, media, "a late delta of the cut answer is dropped");
  assert.equal(counters.staleDeltasDropped, 1);
  const marks = sent("mark").length;
  state.responseDone("resp_1");
  assert.equal(sent("mark").length, marks, "no tail mark for a cut answer");
});

Deno.test("a long call's cuts are remembered up to a bound: the newest still drop late deltas, the oldest are forgotten", () => {
  const { now, state, sent, counters } = setup();
  const cuts = MAX_REMEMBERED_CUTS + 10;
  for (let i = 0; i < cuts; i++) {
    state.responseStarted(`resp_${i}`);
    state.agentAudio(`resp_${i}`, `item_${i}`, AUDIO_100MS);
    now.t += 50;
    state.callerStarted();
    state.callerStopped();
    now.t += 1000;
  }
  assert.equal(sent("clear").length, cuts, "every cut cleared Twilio");
  assert.equal(state.heardOf(`item_${cuts - 1}`), 50);
  assert.equal(state.heardOf(`item_${cuts - MAX_REMEMBERED_CUTS}`), 50, "the last cuts are all remembered");
  assert.equal(state.heardOf("item_0"), undefined, "the oldest cut is forgotten");
  const media = sent("media").length;
  for (let i = cuts - MAX_REMEMBERED_CUTS; i < cuts; i++) {
    state.agentAudio(`resp_${i}`, `item_${i}`, AUDIO_100MS);
  }
  assert.equal(sent("media").length, media, "late deltas of the remembered cut answers are dropped");
  assert.equal(counters.staleDeltasDropped, MAX_REMEMBERED_CUTS);
});

Deno.test("barge-in with nothing playing and no answer in progress cuts nothing and sends no clear", () => {
  const { now, state, cuts, sent } = setup();
  state.responseStarted("resp_1");
  state.agentAudio("resp_1", "item_1", AUDIO_100MS);
  state.responseDone("resp_1");
  now.t = 5000;
  state.callerStarted();
  assert.deepEqual(cuts, [{ at: 5000, items: [], activeResponse: undefined, staleOnly: false }]);
  assert.equal(sent("clear").length, 0);
});

Deno.test("a cut just after Twilio ran dry still clears: playback is behind the clock's reckoning", () => {
  const { now, state, cuts, sent } = setup();
  state.responseStarted("resp_1");
  state.agentAudio("resp_1", "item_1", AUDIO_100MS);
  state.markEcho("item_1:0");
  // The answer's next audio comes 300 ms late: Twilio played the first 100 ms, ran dry, and now holds
  // this one. The clock, counting from the start echo, reckons both played by 200 ms.
  now.t = 400;
  state.agentAudio("resp_1", "item_1", AUDIO_100MS);
  now.t = 410;
  state.callerStarted();
  assert.equal(cuts.length, 1);
  assert.deepEqual(cuts[0]!.items, [], "by the reckoning, nothing was left unheard");
  assert.equal(sent("clear").length, 1, "Twilio is cleared all the same: it may still be playing");
});

Deno.test("a model that owns barge-in stopped leaving 400 ms: the caller heard of late still clears the rest", () => {
  const { now, state, cuts, sent } = setup();
  state.modelOwnsBargeIn = true;
  state.responseStarted("live_1");
  for (let i = 0; i < 5; i++) state.agentAudio("live_1", "live_1", AUDIO_100MS);
  state.markEcho("live_1:0");
  now.t = 100;
  state.responseDone("live_1"); // the model gave way, leaving 400 ms at Twilio
  assert.equal(sent("clear").length, 0, "no caller yet: it may have finished its answer");
  // The caller's speech is known only from the transcript, which lags: 150 ms are left by then.
  now.t = 350;
  state.callerStarted();
  assert.equal(sent("clear").length, 1);
  assert.equal(cuts.at(-1)?.staleOnly, true);
});

Deno.test("turn latency: the answer's first frame sent and its start mark echoed", () => {
  const { now, state, turns, latencies } = setup();
  now.t = 1000;
  turns.callerStopped(now.t);
  turns.responseStarted("resp_1");
  state.responseStarted("resp_1");
  now.t = 1250;
  state.agentAudio("resp_1", "item_1", AUDIO_100MS);
  now.t = 1300;
  state.markEcho("item_1:0");
  assert.deepEqual(latencies, [{ firstAudioSentMs: 250, firstAudioHeardMs: 300 }]);
});

Deno.test("barge-in gating: a short sound cuts nothing, speech that lasts cuts after the gate", async () => {
  const { now, state, cuts, nextCut } = setup(20);
  state.responseStarted("resp_1");
  for (let i = 0; i < 50; i++) state.agentAudio("resp_1", "item_1", AUDIO_100MS);
  state.callerStarted();
  assert.equal(state.callerStopped(), true, "the short sound was gated");
  assert.equal(cuts.length, 0);
  assert.equal(state.callerStopped(), false, "nothing left to gate");

  const cut = nextCut();
  now.t = 300;
  state.callerStarted();
  state.callerStarted(); // a second start while gated is the same speech
  await cut;
  assert.equal(cuts.length, 1);
  assert.equal(cuts[0]!.items[0]!.heardMs, 300);
  state.dispose();
});

Deno.test("barge-in gating does not wait when the agent is silent", () => {
  const { state, cuts } = setup(1000);
  state.callerStarted();
  assert.equal(state.callerStopped(), false, "no gate timer was started");
  assert.deepEqual(cuts, []);
});

Deno.test("agent audio reads the clock only when its time is used: an answer's first audio, or playback idle", () => {
  const { now, state, turns, latencies } = setup();
  turns.callerStopped(0);
  turns.responseStarted("resp_1");
  state.responseStarted("resp_1");
  now.t = 250;
  state.agentAudio("resp_1", "item_1", AUDIO_100MS); // the answer's first audio: its time is the turn's
  assert.equal(now.reads, 1);
  for (let i = 0; i < 9; i++) state.agentAudio("resp_1", "item_1", AUDIO_100MS);
  assert.equal(now.reads, 1, "later audio of the answer, with Twilio still playing, needs no time");
  now.t = 1300;
  state.markEcho("item_1:1000"); // Twilio played it all: playback is idle
  assert.equal(now.reads, 2);
  state.agentAudio("resp_1", "item_1", AUDIO_100MS); // restarts playback: its time is the new reference
  assert.equal(now.reads, 3);
  assert.equal(state.unplayedMs(1350), 50, "playback restarted when that audio went out");
  assert.deepEqual(
    latencies,
    [{ firstAudioSentMs: 250, firstAudioHeardMs: 1300 }],
    "the turn kept its times",
  );
});
