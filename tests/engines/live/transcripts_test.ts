/**
 * GPT-Live transcript fragments into turns: floor changes, gaps, overlapping speech, late
 * fragments, and the session timeline mapped to Parley's clock.
 */

import assert from "node:assert/strict";
import { SessionClock, TurnAssembler } from "../../../src/engines/live/transcripts.ts";

Deno.test("a caller turn ends once the agent takes the floor and late fragments have settled", () => {
  const turns = new TurnAssembler({ settleMs: 500, gapMs: 5000 });
  assert.deepEqual(turns.add("caller", "I need", 100, 400), []);
  assert.deepEqual(turns.add("caller", " a quote", 400, 900), []);
  assert.deepEqual(turns.add("agent", "Sure,", 1200, 1500), []);
  // Transcription lags: this fragment was said before the agent spoke, so it joins the caller's turn.
  assert.deepEqual(turns.add("caller", " today", 900, 1100), []);
  assert.deepEqual(
    turns.add("agent", " for", 1500, 1650),
    [],
    "still settling: 450 ms after the floor changed",
  );
  assert.deepEqual(turns.add("agent", " how", 1650, 1750), [
    { speaker: "caller", text: "I need a quote today", startMs: 100, endMs: 1100 },
  ]);
  assert.equal(turns.current("caller"), undefined);
  assert.deepEqual(turns.current("agent"), {
    speaker: "agent",
    text: "Sure, for how",
    startMs: 1200,
    endMs: 1750,
  });
});

Deno.test("caller speech after the floor changed starts a new caller turn", () => {
  const turns = new TurnAssembler({ settleMs: 2000, gapMs: 5000 });
  turns.add("caller", "Hello?", 0, 500);
  turns.add("agent", "Hi there.", 800, 1400);
  assert.deepEqual(turns.add("caller", "Is this Acme?", 1600, 2300), [
    { speaker: "caller", text: "Hello?", startMs: 0, endMs: 500 },
  ]);
  assert.deepEqual(turns.flush(), [
    { speaker: "agent", text: "Hi there.", startMs: 800, endMs: 1400 },
    { speaker: "caller", text: "Is this Acme?", startMs: 1600, endMs: 2300 },
  ]);
});

Deno.test("a backchannel over the agent does not cut the agent's turn", () => {
  const turns = new TurnAssembler({ settleMs: 300, gapMs: 1000 });
  const ended = [
    turns.add("agent", "Our plan includes", 0, 1000),
    turns.add("caller", "mm-hm", 600, 800), // overlaps the agent's speech
    turns.add("agent", " three seats", 1000, 1600),
    turns.add("agent", " and support.", 1600, 2200),
    turns.add("agent", " Shall I", 2200, 2500),
  ];
  assert.deepEqual(ended, [[], [], [{ speaker: "caller", text: "mm-hm", startMs: 600, endMs: 800 }], [], []]);
  assert.deepEqual(turns.flush(), [
    { speaker: "agent", text: "Our plan includes three seats and support. Shall I", startMs: 0, endMs: 2500 },
  ]);
});

Deno.test("a barge-in: the caller talks over the agent, the model yields, then answers in a new turn", () => {
  const turns = new TurnAssembler({ settleMs: 300, gapMs: 1500 });
  const ended = [
    turns.add("agent", "Our premium plan", 0, 1500),
    turns.add("caller", "Sorry, how much", 1300, 2000), // over the agent, which stops at 1500
    turns.add("caller", " is it?", 2000, 2600), // the caller goes on alone: the agent lost the floor
    turns.add("agent", "It's ten", 2900, 3100), // the answer; the caller's turn is still settling
    turns.add("agent", " dollars.", 3100, 3400),
  ];
  assert.deepEqual(ended, [
    [],
    [],
    [{ speaker: "agent", text: "Our premium plan", startMs: 0, endMs: 1500 }],
    [],
    [{ speaker: "caller", text: "Sorry, how much is it?", startMs: 1300, endMs: 2600 }],
  ]);
  assert.equal(turns.current("agent")?.text, "It's ten dollars.");
});

Deno.test("the overlapped side speaking again after the other finished starts a new turn", () => {
  // The agent's turn never lost the floor (the caller started over it), yet the caller spoke past
  // its end: the agent's next words are a new turn, even within the gap.
  const turns = new TurnAssembler({ settleMs: 5000, gapMs: 5000 });
  turns.add("agent", "Let me explain", 0, 1000);
  turns.add("caller", "No, wait", 800, 1600);
  assert.deepEqual(turns.add("agent", "Of course.", 1800, 2400), [
    { speaker: "agent", text: "Let me explain", startMs: 0, endMs: 1000 },
  ]);
});

Deno.test("a silent gap ends a turn, on the next fragment or on the clock", () => {
  const turns = new TurnAssembler({ gapMs: 1500 });
  turns.add("caller", "Wait", 0, 300);
  assert.deepEqual(turns.idle(1700), []);
  assert.deepEqual(turns.idle(1800), [{ speaker: "caller", text: "Wait", startMs: 0, endMs: 300 }]);
  turns.add("agent", "Okay.", 2000, 2400);
  assert.deepEqual(turns.add("agent", "Anything else?", 5000, 5600), [
    { speaker: "agent", text: "Okay.", startMs: 2000, endMs: 2400 },
  ]);
});

Deno.test("odd fragments: empty text, whitespace, out-of-order times", () => {
  const turns = new TurnAssembler({ gapMs: 1000 });
  turns.add("caller", "   ", 0, 100);
  assert.deepEqual(turns.idle(5000), [], "a turn with no words is dropped");
  turns.add("agent", "", 6000, 6000);
  turns.add("agent", "B", 6100, 6200);
  turns.add("agent", "A", 5900, 6000);
  assert.deepEqual(turns.flush(), [{ speaker: "agent", text: "BA", startMs: 5900, endMs: 6200 }]);
  assert.deepEqual(turns.flush(), []);
});

Deno.test("the session clock maps the timeline to local time and back", () => {
  const clock = SessionClock.fromHandshake(1000, 1100);
  assert.equal(clock.originMs, 1050);
  assert.equal(clock.toLocal(2500), 3550);
  assert.equal(clock.toSession(3550), 2500);
  assert.equal(SessionClock.fromHandshake(1000, 900).originMs, 1000, "a clock step backwards is not trusted");
});
