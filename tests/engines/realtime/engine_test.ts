/**
 * The Realtime engine behind the seam: its opening, what it sends on barge-in, and how server
 * events map to the relay's events.
 */

import assert from "node:assert/strict";
import type { SessionPlan } from "../../../src/engines/engine.ts";
import { createRealtimeEngine } from "../../../src/engines/realtime/engine.ts";

const engine = createRealtimeEngine("wss://api.openai.com/v1/realtime");
const PLAN: SessionPlan = {
  persona: { voice: "marin" },
  model: "gpt-realtime-2.1",
  instructions: "Sell gently.",
  voice: "cedar",
  greeting: "Greet the caller.",
  history: [],
  tools: [],
};

Deno.test("realtime engine opens with session.update (the call's voice), then the greeting", () => {
  assert.equal(
    engine.sessionUrl("gpt-realtime-2.1"),
    "wss://api.openai.com/v1/realtime?model=gpt-realtime-2.1",
  );
  const opening = engine.opening(PLAN);
  assert.deepEqual(opening.afterReady, []);
  const [update, greet, ...rest] = opening.first.map((m) => JSON.parse(m));
  assert.equal(update.type, "session.update");
  assert.equal(update.session.audio.output.voice, "cedar");
  assert.equal(update.session.instructions, "Sell gently.");
  assert.deepEqual(greet, {
    type: "response.create",
    response: { instructions: "Sell gently.\n\nGreet the caller." },
  });
  assert.deepEqual(rest, []);
});

Deno.test("realtime engine gives a new session the conversation so far, before the greeting", () => {
  const opening = engine.opening({
    ...PLAN,
    greeting: undefined,
    history: [{ speaker: "caller", text: "Hi" }, { speaker: "agent", text: "Hello!" }],
  });
  assert.deepEqual(opening.first.slice(1).map((m) => JSON.parse(m)), [
    {
      type: "conversation.item.create",
      item: { type: "message", role: "user", content: [{ type: "input_text", text: "Hi" }] },
    },
    {
      type: "conversation.item.create",
      item: { type: "message", role: "assistant", content: [{ type: "output_text", text: "Hello!" }] },
    },
  ]);
});

Deno.test("realtime engine truncates every cut item at what was heard, then cancels the answer", () => {
  const cut = [{ itemId: "item_1", responseId: "r1", heardMs: 812.7 }, {
    itemId: "item_2",
    responseId: "r2",
    heardMs: 0,
  }];
  assert.deepEqual(engine.interruption(cut, "r2").map((m) => JSON.parse(m)), [
    { type: "conversation.item.truncate", item_id: "item_1", content_index: 0, audio_end_ms: 812 },
    { type: "conversation.item.truncate", item_id: "item_2", content_index: 0, audio_end_ms: 0 },
    { type: "response.cancel" },
  ]);
  assert.deepEqual(engine.interruption([], undefined), []);
  assert.equal(engine.closeMessage(), undefined);
  assert.equal(engine.capabilities.truncates, true);
});

Deno.test("realtime engine maps server events to relay events", async (t) => {
  const cases: [string, unknown][] = [
    [
      `{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"AAAA"}`,
      { type: "agent.audio", responseId: "r", itemId: "i", delta: "AAAA" },
    ],
    [`{"type":"response.output_audio.done","response_id":"r","item_id":"i"}`, {
      type: "agent.audio.done",
      responseId: "r",
      itemId: "i",
    }],
    [`{"type":"input_audio_buffer.speech_started","item_id":"c"}`, { type: "caller.started", itemId: "c" }],
    [`{"type":"input_audio_buffer.speech_stopped","item_id":"c"}`, { type: "caller.stopped", at: undefined }],
    [`{"type":"response.created","response":{"id":"r"}}`, { type: "response.started", responseId: "r" }],
    [
      `{"type":"response.done","response":{"id":"r","status":"failed","status_details":{"error":{"message":"boom"}}}}`,
      {
        type: "response.done",
        responseId: "r",
        failure: { status: "failed", reason: "boom" },
        usage: undefined,
      },
    ],
    [
      `{"type":"conversation.item.input_audio_transcription.completed","item_id":"c","transcript":"Hi"}`,
      { type: "transcript", speaker: "caller", text: "Hi", itemId: "c" },
    ],
    [
      `{"type":"response.output_audio_transcript.done","response_id":"r","item_id":"i","transcript":"Yo"}`,
      { type: "transcript", speaker: "agent", text: "Yo", itemId: "i" },
    ],
    [`{"type":"session.updated","session":{}}`, { type: "session.ready", sessionId: undefined }],
    [`{"type":"error","error":{"code":"response_cancel_not_active","message":"x"}}`, { type: "ignored" }],
    [
      `{"type":"error","error":{"code":"session_expired","message":"Your session hit the maximum duration"}}`,
      {
        type: "error",
        code: "session_expired",
        message: "Your session hit the maximum duration",
        endsCall: "the OpenAI session reached its 60-minute limit",
      },
    ],
    [`{"type":"rate_limits.updated"}`, { type: "ignored" }],
    [`{"type":`, { type: "invalid", problem: "not JSON" }],
  ];
  for (const [wire, expected] of cases) {
    await t.step(wire.slice(0, 60), () => {
      const events: unknown[] = [];
      engine.reader(() => 0).read(wire, (event) => events.push(event));
      assert.deepEqual(events, [expected]);
    });
  }
});
