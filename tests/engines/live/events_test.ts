/**
 * GPT-Live events: building the client commands and parsing server events, odd inputs included.
 */

import assert from "node:assert/strict";
import {
  commentaryAppendEvent,
  functionCallOutputEvent,
  inputAudioAppendEvent,
  parseLiveEvent,
  responseCreateEvent,
  sessionCloseEvent,
} from "../../../src/engines/live/events.ts";

const parse = (value: unknown) => parseLiveEvent(JSON.stringify(value));

Deno.test("live client events have the shapes of the types", async (t) => {
  await t.step("audio passes Twilio's payload through untouched", () => {
    const payload = "f39/fn5+//8AAQ==";
    assert.equal(
      inputAudioAppendEvent(payload),
      `{"type":"session.input_audio.append","audio":"${payload}"}`,
    );
    assert.deepEqual(JSON.parse(inputAudioAppendEvent(payload)), {
      type: "session.input_audio.append",
      audio: payload,
    });
  });
  await t.step("the greeting is general commentary: delegation_id null, always present", () => {
    assert.deepEqual(JSON.parse(commentaryAppendEvent("Greet the caller.")), {
      type: "session.commentary.append",
      content: "Greet the caller.",
      delegation_id: null,
    });
    assert.deepEqual(JSON.parse(commentaryAppendEvent("Done.", { delegationId: "deleg_1", eventId: "e1" })), {
      type: "session.commentary.append",
      event_id: "e1",
      content: "Done.",
      delegation_id: "deleg_1",
    });
  });
  await t.step("text with quotes, newlines and control characters stays valid JSON", () => {
    const content = 'Say "hi"\nthen \u0000 wait \u2028 ok';
    assert.equal(JSON.parse(commentaryAppendEvent(content)).content, content);
    const output = '{"rows":[1,2],"note":"a\\"b"}';
    assert.equal(JSON.parse(functionCallOutputEvent("call_1", output)).item.output, output);
  });
  await t.step("a tool result is a function_call_output item, then response.create", () => {
    assert.deepEqual(JSON.parse(functionCallOutputEvent("call_9", "42")), {
      type: "response.item.create",
      item: { type: "function_call_output", call_id: "call_9", output: "42" },
    });
    assert.deepEqual(JSON.parse(responseCreateEvent()), { type: "response.create" });
  });
  await t.step("close carries an event id only when given", () => {
    assert.deepEqual(JSON.parse(sessionCloseEvent()), { type: "session.close" });
    assert.deepEqual(JSON.parse(sessionCloseEvent({ eventId: "bye" })), {
      type: "session.close",
      event_id: "bye",
    });
  });
});

Deno.test("live server events parse into the relay's vocabulary", () => {
  assert.deepEqual(
    parse({ type: "session.started", event_id: "e1", session: { id: "sess_1", model: "gpt-live-1.1" } }),
    { type: "session.started", sessionId: "sess_1", model: "gpt-live-1.1" },
  );
  assert.deepEqual(parse({ type: "session.output_audio.delta", delta: "//8=" }), {
    type: "session.output_audio.delta",
    delta: "//8=",
  });
  assert.deepEqual(
    parse({ type: "session.input_transcript.delta", delta: " hi", start_ms: 10, end_ms: 250 }),
    {
      type: "session.input_transcript.delta",
      delta: " hi",
      startMs: 10,
      endMs: 250,
    },
  );
  assert.deepEqual(parse({ type: "session.output_transcript.delta", delta: "Yes", start_ms: 5, end_ms: 5 }), {
    type: "session.output_transcript.delta",
    delta: "Yes",
    startMs: 5,
    endMs: 5,
  });
  assert.deepEqual(parse({ type: "session.usage.updated", usage: { seconds: 61.5 } }), {
    type: "session.usage.updated",
    seconds: 61.5,
    contextUsageRatio: undefined,
  });
  assert.deepEqual(
    parse({ type: "session.usage.updated", usage: { seconds: 2 }, context_window: { usage_ratio: 0.25 } }),
    { type: "session.usage.updated", seconds: 2, contextUsageRatio: 0.25 },
  );
  assert.deepEqual(
    parse({ type: "session.closed", reason: "expired", usage: { seconds: 3600 }, session: {} }),
    {
      type: "session.closed",
      reason: "expired",
      seconds: 3600,
    },
  );
  assert.deepEqual(parse({ type: "info", code: "data_channel_permissions", message: "m" }), {
    type: "info",
    code: "data_channel_permissions",
    message: "m",
  });
});

Deno.test("live errors keep code, type, param and the command's id", () => {
  assert.deepEqual(
    parse({
      type: "error",
      event_id: "e9",
      error: {
        type: "invalid_request_error",
        code: "unknown_parameter",
        message: "Unknown parameter: 'session.voice'.",
        param: "session.voice",
        client_event_id: "start_1",
      },
    }),
    {
      type: "error",
      code: "unknown_parameter",
      message: "Unknown parameter: 'session.voice'.",
      errorType: "invalid_request_error",
      param: "session.voice",
      clientEventId: "start_1",
    },
  );
  assert.deepEqual(
    parse({ type: "error", client_event_id: "c2", error: { type: "server_error", message: "x" } }),
    {
      type: "error",
      code: "server_error",
      message: "x",
      errorType: "server_error",
      param: undefined,
      clientEventId: "c2",
    },
  );
  assert.equal((parse({ type: "error" }) as { code: string }).code, "unknown");
});

Deno.test("a delegated function call is found inside response.event", () => {
  const item = { type: "function_call", id: "fc_1", call_id: "call_1", name: "lookup", arguments: '{"a":1}' };
  assert.deepEqual(
    parse({
      type: "response.event",
      delegation_id: "deleg_1",
      event: { type: "response.output_item.done", item },
    }),
    {
      type: "response.function_call",
      delegationId: "deleg_1",
      callId: "call_1",
      name: "lookup",
      arguments: '{"a":1}',
    },
  );
  assert.deepEqual(
    parse({
      type: "response.event",
      event: { type: "response.output_item.done", item: { type: "message" } },
    }),
    { type: "response.event", delegationId: undefined, name: "response.output_item.done" },
  );
  assert.deepEqual(
    parse({ type: "response.event", delegation_id: null, event: { type: "response.completed" } }),
    {
      type: "response.event",
      delegationId: undefined,
      name: "response.completed",
    },
  );
});

Deno.test("unusable live messages become invalid with a reason, never a throw", () => {
  const cases: [string, RegExp][] = [
    ["", /not JSON/],
    ["{", /not JSON/],
    ["[1]", /not a JSON object/],
    ["null", /not a JSON object/],
    ['"session.started"', /not a JSON object/],
    ["{}", /no string "type"/],
    ['{"type":7}', /no string "type"/],
    ['{"type":"session.started"}', /session\.started: "session\.id" is missing/],
    ['{"type":"session.started","session":{"id":""}}', /session\.id/],
    ['{"type":"session.output_audio.delta"}', /"delta" is not base64 audio/],
    ['{"type":"session.output_audio.delta","delta":123}', /"delta" is not base64 audio/],
    ['{"type":"session.output_audio.delta","delta":"AA\\"}"}', /"delta" is not base64 audio/],
    ['{"type":"session.input_transcript.delta","delta":"a","end_ms":4}', /"start_ms"/],
    ['{"type":"session.output_transcript.delta","delta":"a","start_ms":9,"end_ms":4}', /"end_ms"/],
    ['{"type":"session.output_transcript.delta","delta":"a","start_ms":-1,"end_ms":4}', /"start_ms"/],
    ['{"type":"session.input_transcript.delta","delta":"a","start_ms":1,"end_ms":1e308}', /"end_ms"/],
    ['{"type":"session.input_transcript.delta","delta":"a","start_ms":1e12,"end_ms":1e12}', /"start_ms"/],
    ['{"type":"session.usage.updated","usage":{"seconds":"12"}}', /usage\.seconds/],
    ['{"type":"session.usage.updated"}', /usage\.seconds/],
    ['{"type":"response.event"}', /event\.type/],
    [
      '{"type":"response.event","event":{"type":"response.output_item.done","item":{"type":"function_call","call_id":"c","name":"n"}}}',
      /event\.item\.arguments/,
    ],
  ];
  for (const [text, problem] of cases) {
    const event = parseLiveEvent(text);
    assert.equal(event.type, "invalid", text);
    assert.match((event as { problem: string }).problem, problem, text);
  }
});

Deno.test("unknown and unused live events are other, named", () => {
  assert.deepEqual(parse({ type: "session.commentary.appended", start_ms: 1, end_ms: 1 }), {
    type: "other",
    name: "session.commentary.appended",
  });
  assert.deepEqual(parse({ type: "session.future_event" }), { type: "other", name: "session.future_event" });
  const closed = parse({ type: "session.closed" });
  assert.deepEqual(closed, { type: "session.closed", reason: "unknown", seconds: undefined });
});
