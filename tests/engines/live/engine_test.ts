/**
 * The GPT-Live engine behind the seam, driven directly with a scripted clock: its opening, answers
 * cut from runs of audio, transcript fragments into turns with the caller's stop on Parley's clock,
 * usage, the server's close and the words of each reason.
 */

import assert from "node:assert/strict";
import type { EngineEvent, SessionPlan } from "../../../src/engines/engine.ts";
import { ANSWER_GAP_MS, createLiveEngine, describeClose } from "../../../src/engines/live/engine.ts";

const engine = createLiveEngine("wss://api.openai.com/v1/live/sessions");
const PLAN: SessionPlan = {
  persona: { voice: "marin" },
  model: "gpt-live-1.1",
  instructions: "Sell gently.",
  voice: "beacon",
  greeting: "Greet the caller.",
  history: [{ speaker: "caller", text: "Hi" }, { speaker: "agent", text: "Hello!" }],
  tools: [],
};

function reader() {
  const now = { t: 1000 };
  const live = engine.reader(() => now.t);
  const events: EngineEvent[] = [];
  const read = (event: Record<string, unknown>) => live.read(JSON.stringify(event), (e) => events.push(e));
  const idle = () => live.idle((e) => events.push(e));
  return { now, live, events, read, idle };
}

Deno.test("GPT-Live engine: session.start first, the greeting as commentary once started, history as input", () => {
  assert.equal(engine.sessionUrl("gpt-live-1.1"), "wss://api.openai.com/v1/live/sessions");
  const opening = engine.opening(PLAN);
  const start = JSON.parse(opening.first[0]!);
  assert.equal(opening.first.length, 1);
  assert.equal(start.type, "session.start");
  assert.equal(start.session.model, "gpt-live-1.1");
  assert.deepEqual(start.session.audio, {
    format: { type: "audio/pcmu", rate: 8000 },
    output: { voice: "beacon" },
  });
  assert.deepEqual(start.session.input.map((m: { role: string }) => m.role), ["user", "assistant"]);
  assert.deepEqual(opening.afterReady.map((m) => JSON.parse(m)), [
    { type: "session.commentary.append", content: "Greet the caller.", delegation_id: null },
  ]);
  assert.deepEqual(
    engine.interruption([{ itemId: "a", responseId: "a", heardMs: 5 }], "a"),
    [],
    "never truncates",
  );
  assert.deepEqual(JSON.parse(engine.closeMessage()!), { type: "session.close" });
  assert.equal(engine.audioMessage("//8="), '{"type":"session.input_audio.append","audio":"//8="}');
});

Deno.test("GPT-Live engine: a run of audio is one answer; a pause of the gap ends it", () => {
  const { now, events, read, idle } = reader();
  read({ type: "session.output_audio.delta", delta: "AAAA" });
  now.t += 20;
  read({ type: "session.output_audio.delta", delta: "BBBB" });
  now.t += ANSWER_GAP_MS - 1;
  idle();
  assert.deepEqual(events, [
    { type: "response.started", responseId: "live_answer_1" },
    { type: "agent.audio", responseId: "live_answer_1", itemId: "live_answer_1", delta: "AAAA" },
    { type: "agent.audio", responseId: "live_answer_1", itemId: "live_answer_1", delta: "BBBB" },
  ]);
  now.t += 1;
  idle();
  assert.deepEqual(events.at(-1), {
    type: "response.done",
    responseId: "live_answer_1",
    failure: undefined,
    usage: undefined,
  });
  read({ type: "session.output_audio.delta", delta: "CCCC" });
  assert.deepEqual(events.at(-2), { type: "response.started", responseId: "live_answer_2" });
});

Deno.test("GPT-Live engine: transcript fragments become turns; the caller's stop is on Parley's clock", () => {
  const { now, live, events, read } = reader();
  live.openingSent(1000);
  now.t = 1100; // session.started after a 100 ms round trip: the timeline began at ~1050
  read({ type: "session.started", session: { id: "sess_1", model: "gpt-live-1.1" } });
  assert.deepEqual(events.shift(), { type: "session.ready", sessionId: "sess_1" });
  read({ type: "session.input_transcript.delta", delta: "I need", start_ms: 1000, end_ms: 1400 });
  assert.deepEqual(events.shift(), { type: "caller.started" });
  read({ type: "session.input_transcript.delta", delta: " a quote.", start_ms: 1400, end_ms: 1900 });
  read({ type: "session.output_transcript.delta", delta: "Sure.", start_ms: 2300, end_ms: 2700 });
  read({ type: "session.output_transcript.delta", delta: " What for?", start_ms: 2700, end_ms: 3100 });
  assert.deepEqual(events.splice(0), [
    { type: "caller.stopped", at: 1050 + 1900 },
    // The turn began at its first fragment's start_ms, on Parley's clock.
    {
      type: "transcript",
      speaker: "caller",
      text: "I need a quote.",
      itemId: undefined,
      startedAt: 1050 + 1000,
    },
  ]);
  live.flush((e) => events.push(e));
  assert.deepEqual(events, [{
    type: "transcript",
    speaker: "agent",
    text: "Sure. What for?",
    itemId: undefined,
    startedAt: 1050 + 2300,
  }]);
});

Deno.test("GPT-Live engine: a caller turn whose transcript comes after its own gap still starts before it stops", () => {
  const { live, events, read } = reader();
  live.openingSent(1000);
  read({ type: "session.started", session: { id: "sess_1", model: "gpt-live-1.1" } });
  events.splice(0);
  // The model's transcript runs seconds ahead of playback; the caller's words, spoken over it, come
  // late (transcription lags the audio): their turn is over by the time they arrive.
  read({ type: "session.output_transcript.delta", delta: "A long greeting", start_ms: 1000, end_ms: 6000 });
  read({ type: "session.input_transcript.delta", delta: "Wait, stop.", start_ms: 1200, end_ms: 1500 });
  assert.deepEqual(events.map((e) => e.type), ["caller.started", "caller.stopped", "transcript"]);
  assert.deepEqual(events.at(-1), {
    type: "transcript",
    speaker: "caller",
    text: "Wait, stop.",
    itemId: undefined,
    startedAt: 1000 + 1200,
  });
});

Deno.test("GPT-Live engine: usage, the server's close, errors and notices", () => {
  const { events, read } = reader();
  read({ type: "session.usage.updated", usage: { seconds: 90 } });
  read({ type: "session.closed", reason: "expired", usage: { seconds: 3600 } });
  read({ type: "session.closed", reason: "close_requested" });
  read({
    type: "error",
    error: { type: "invalid_request_error", code: "unknown_parameter", message: "No." },
  });
  read({ type: "info", code: "slow", message: "Catching up." });
  read({ type: "session.output_audio.delta" });
  assert.deepEqual(events, [
    { type: "usage", usage: { seconds: 90 } },
    { type: "usage", usage: { seconds: 3600 } },
    {
      type: "session.closed",
      expected: false,
      detail: "GPT-Live ended the session: it reached its time limit",
    },
    { type: "session.closed", expected: true, detail: "the session was closed as asked" },
    { type: "error", code: "unknown_parameter", message: "No.", endsCall: undefined },
    { type: "notice", code: "slow", message: "Catching up." },
    { type: "invalid", problem: 'session.output_audio.delta: "delta" is not base64 audio' },
  ]);
  assert.equal(describeClose("new_reason"), 'GPT-Live ended the session (reason "new_reason")');
});
