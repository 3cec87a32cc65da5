/**
 * Seeded malformed frames for the fuzz test (frame_fuzz_test.ts): every field of each real event, on
 * each side, given a wrong value; truncated JSON, non-objects, empty and binary frames, unknown events
 * and the other engine's events. A seed makes the same batch every time.
 */

/** One frame to inject: text, or bytes for a binary frame. */
export type Frame = string | Uint8Array;

/** A seeded random source (mulberry32): the same seed, the same numbers. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** A deeply nested JSON value, `depth` levels of `{"a":…}`. */
function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

/** Values of the wrong type or an impossible value, for any field. */
const BAD_VALUES: readonly unknown[] = [
  42,
  -1,
  0,
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER * 1024,
  null,
  true,
  "",
  "NaN",
  "-Infinity",
  "1e999",
  "-5",
  "@@not base64@@",
  "AAA", // base64 characters, a length no base64 has
  "\u0000\u001b[2J\nforged\u2028line",
  "x".repeat(10_000),
  {},
  [],
  [1, "two", null],
  { nested: { deeper: [{}] } },
  nested(200),
];

/** Numbers no count, time or position can be. */
const HUGE: readonly number[] = [1e308, Number.MAX_SAFE_INTEGER * 1024, 1e12, Number.MIN_VALUE];

/** The value at `path` in `value`. */
function valueAt(value: Record<string, unknown>, path: string[]): unknown {
  let at: unknown = value;
  for (const key of path) at = (at as Record<string, unknown>)[key];
  return at;
}

/** Every path to a value of `value` (objects walked; arrays as leaves), the object itself excluded. */
function paths(value: Record<string, unknown>, prefix: string[] = []): string[][] {
  const out: string[][] = [];
  for (const [key, child] of Object.entries(value)) {
    const path = [...prefix, key];
    out.push(path);
    if (typeof child === "object" && child !== null && !Array.isArray(child)) {
      out.push(...paths(child as Record<string, unknown>, path));
    }
  }
  return out;
}

/** A deep copy of `value` with the field at `path` set to `replacement` (removed when undefined). */
function withField(
  value: Record<string, unknown>,
  path: string[],
  replacement: unknown,
): Record<string, unknown> {
  const copy = structuredClone(value);
  let at: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string, unknown>;
  const last = path[path.length - 1]!;
  if (replacement === undefined) delete at[last];
  else at[last] = replacement;
  return copy;
}

/**
 * For each template, for each of its fields: the template with that field given a random bad value
 * (or removed), unless `keep` says the result is a frame Parley must act on (e.g. a real `stop`).
 */
function mutations(
  random: () => number,
  templates: readonly Record<string, unknown>[],
  keep: (frame: Record<string, unknown>) => boolean = () => true,
): string[] {
  const out: string[] = [];
  for (const template of templates) {
    for (const path of paths(template)) {
      const replacements = [random() < 0.1 ? undefined : pick(random, BAD_VALUES)];
      // Every number is also tried huge and negative: counts, times and positions that cannot be true.
      if (typeof valueAt(template, path) === "number") {
        replacements.push(pick(random, HUGE), -pick(random, HUGE));
      }
      for (const replacement of replacements) {
        const frame = withField(template, path, replacement);
        if (keep(frame)) out.push(JSON.stringify(frame));
      }
    }
  }
  return out;
}

/** Frames malformed whatever their event: truncated JSON, non-objects, empty, binary, unknown events. */
function shapeless(random: () => number, templates: readonly Record<string, unknown>[]): Frame[] {
  const out: Frame[] = [];
  for (const template of templates) {
    const text = JSON.stringify(template);
    out.push(text.slice(0, 1 + Math.floor(random() * (text.length - 2))));
  }
  out.push(
    "",
    " ",
    "{",
    "}",
    "null",
    "42",
    "-0",
    "1e999",
    '"a string"',
    "true",
    "[]",
    JSON.stringify([templates[0]]),
    "[".repeat(5_000) + "]".repeat(5_000),
    '{"a":'.repeat(2_000) + "1" + "}".repeat(2_000),
    JSON.stringify({ event: "surprise", type: "surprise.event", data: "x".repeat(1_000) }),
    JSON.stringify({ event: "x".repeat(5_000), type: "y".repeat(5_000) }),
    JSON.stringify({ event: "__proto__", type: "__proto__" }),
    '{"__proto__":{"polluted":true},"event":"media","type":"error"}',
    new Uint8Array(0),
    Uint8Array.from({ length: 1 + Math.floor(random() * 400) }, () => Math.floor(random() * 256)),
  );
  return out;
}

/** Shuffles `frames` in place with `random`, and returns them. */
function shuffle<T>(random: () => number, frames: T[]): T[] {
  for (let i = frames.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [frames[i], frames[j]] = [frames[j]!, frames[i]!];
  }
  return frames;
}

const PAYLOAD = "f".repeat(216); // base64 of 160 bytes (0x7d, …): 20 ms of μ-law

/** Twilio's frames as Twilio sends them (protocols.md), for a stream `streamSid` of call `callSid`. */
function twilioTemplates(streamSid: string, callSid: string): Record<string, unknown>[] {
  return [
    { event: "connected", protocol: "Call", version: "1.0.0" },
    {
      event: "start",
      sequenceNumber: "1",
      streamSid,
      start: {
        streamSid,
        accountSid: "AC00000000000000000000000000000000",
        callSid,
        tracks: ["inbound"],
        customParameters: { persona: "tester" },
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
      },
    },
    {
      event: "media",
      sequenceNumber: "3",
      streamSid,
      media: { track: "inbound", chunk: "2", timestamp: "40", payload: PAYLOAD },
    },
    { event: "mark", sequenceNumber: "9", streamSid, mark: { name: "item_forgotten:100" } },
    { event: "dtmf", sequenceNumber: "5", streamSid, dtmf: { track: "inbound_track", digit: "1" } },
    {
      event: "stop",
      sequenceNumber: "99",
      streamSid,
      stop: { accountSid: "AC00000000000000000000000000000000", callSid },
    },
  ];
}

/**
 * A batch of malformed Twilio frames for the stream `streamSid` of call `callSid`: every field of each
 * real frame wrong, plus shapeless frames, another call's marks and stop, a 10 KB DTMF digit, and
 * upstream events sent to the wrong socket. A `stop` that still names this stream (or none) is a real
 * hang-up, so none is sent.
 */
export function twilioGarbage(random: () => number, streamSid: string, callSid: string): Frame[] {
  const templates = twilioTemplates(streamSid, callSid);
  const realStop = (f: Record<string, unknown>) =>
    f.event === "stop" && (f.streamSid === undefined || f.streamSid === streamSid);
  return shuffle(random, [
    ...mutations(random, templates, (f) => !realStop(f)),
    ...shapeless(random, templates),
    JSON.stringify({ event: "mark", streamSid, mark: { name: "item_of_another_call:400" } }),
    JSON.stringify({ event: "mark", streamSid, mark: { name: "resp_unknown" } }),
    JSON.stringify({ event: "stop", streamSid: "MZ0000000000000000000000000000other" }),
    JSON.stringify({ event: "media", streamSid: "MZother", media: { payload: PAYLOAD } }),
    JSON.stringify({ event: "dtmf", streamSid, dtmf: { digit: "9".repeat(10_000) } }),
    ...realtimeTemplates().map((t) => JSON.stringify(t)),
    ...liveTemplates().map((t) => JSON.stringify(t)),
  ]);
}

const AUDIO = "fn5+fn5+fn5+fn5+"; // base64 μ-law, 12 bytes

/** Realtime (GA) server events with every field (openai@7.57.0 `realtime.d.ts`), ids unknown to the call. */
function realtimeTemplates(): Record<string, unknown>[] {
  const item = "item_fuzz";
  const response = "resp_fuzz";
  return [
    { type: "session.updated", event_id: "event_1", session: { type: "realtime", model: "gpt-realtime" } },
    { type: "input_audio_buffer.speech_started", event_id: "event_2", audio_start_ms: 100, item_id: item },
    { type: "input_audio_buffer.speech_stopped", event_id: "event_3", audio_end_ms: 900, item_id: item },
    { type: "input_audio_buffer.committed", event_id: "event_4", previous_item_id: null, item_id: item },
    {
      type: "conversation.item.input_audio_transcription.completed",
      event_id: "event_5",
      item_id: item,
      content_index: 0,
      transcript: "fuzz words",
      usage: { type: "tokens", input_tokens: 5, output_tokens: 3, total_tokens: 8 },
    },
    {
      type: "conversation.item.input_audio_transcription.failed",
      event_id: "event_6",
      item_id: item,
      content_index: 0,
      error: { type: "transcription_error", code: "audio_unintelligible", message: "no words", param: null },
    },
    {
      type: "response.created",
      event_id: "event_7",
      response: { id: response, object: "realtime.response", status: "in_progress", output: [] },
    },
    {
      type: "response.output_audio.delta",
      event_id: "event_8",
      response_id: response,
      item_id: item,
      output_index: 0,
      content_index: 0,
      delta: AUDIO,
    },
    {
      type: "response.output_audio.done",
      event_id: "event_9",
      response_id: response,
      item_id: item,
      output_index: 0,
      content_index: 0,
    },
    {
      type: "response.output_audio_transcript.done",
      event_id: "event_10",
      response_id: response,
      item_id: item,
      output_index: 0,
      content_index: 0,
      transcript: "fuzz answer",
    },
    {
      type: "response.output_item.done",
      event_id: "event_11",
      response_id: response,
      output_index: 1,
      item: {
        id: "fc_fuzz",
        type: "function_call",
        status: "completed",
        call_id: "call_fuzz",
        name: "lookup",
        arguments: '{"q":1}',
      },
    },
    {
      type: "response.done",
      event_id: "event_12",
      response: {
        id: response,
        object: "realtime.response",
        status: "completed",
        status_details: { type: "completed", reason: "fuzz", error: { type: "server_error", code: "x" } },
        usage: {
          total_tokens: 150,
          input_tokens: 100,
          output_tokens: 50,
          input_token_details: {
            text_tokens: 40,
            audio_tokens: 60,
            cached_tokens: 0,
            cached_tokens_details: { text_tokens: 0, audio_tokens: 0 },
          },
          output_token_details: { text_tokens: 10, audio_tokens: 40 },
        },
      },
    },
    {
      type: "error",
      event_id: "event_13",
      error: {
        type: "invalid_request_error",
        code: "fuzz_code",
        message: "fuzz",
        param: null,
        event_id: null,
      },
    },
    {
      type: "conversation.item.truncated",
      event_id: "event_14",
      item_id: item,
      content_index: 0,
      audio_end_ms: 40,
    },
    {
      type: "rate_limits.updated",
      event_id: "event_15",
      rate_limits: [{ name: "tokens", limit: 1000, remaining: 900, reset_seconds: 1.5 }],
    },
  ];
}

/**
 * A batch of malformed Realtime server events: every field of each real event wrong (ids of no answer
 * the call knows), plus shapeless frames and GPT-Live's events.
 */
export function realtimeGarbage(random: () => number): Frame[] {
  const templates = realtimeTemplates();
  return shuffle(random, [
    ...mutations(random, templates),
    ...shapeless(random, templates),
    ...liveTemplates().map((t) => JSON.stringify(t)),
    JSON.stringify({ type: "session.closed", reason: "expired", usage: { seconds: 12 } }),
  ]);
}

/** GPT-Live server events with every field (openai@7.57.0 `live.d.ts`), `session.closed` aside. */
function liveTemplates(): Record<string, unknown>[] {
  return [
    { type: "session.started", event_id: "event_1", session: { id: "sess_fuzz", model: "gpt-live-1.1" } },
    { type: "session.output_audio.delta", event_id: "event_2", delta: AUDIO },
    { type: "session.input_transcript.delta", event_id: "event_3", delta: "fuzz", start_ms: 10, end_ms: 20 },
    { type: "session.output_transcript.delta", event_id: "event_4", delta: "fuzz", start_ms: 10, end_ms: 20 },
    {
      type: "session.usage.updated",
      event_id: "event_5",
      usage: { seconds: 1 },
      context_window: { usage_ratio: 0.1 },
    },
    {
      type: "error",
      event_id: "event_6",
      error: {
        type: "invalid_request_error",
        code: "fuzz",
        message: "fuzz",
        param: null,
        client_event_id: null,
      },
    },
    { type: "info", event_id: "event_7", code: "fuzz", message: "fuzz" },
    {
      type: "response.event",
      event_id: "event_8",
      delegation_id: "del_fuzz",
      event: {
        type: "response.output_item.done",
        item: { type: "function_call", call_id: "call_fuzz", name: "lookup", arguments: "{}" },
      },
    },
  ];
}

/**
 * A batch of malformed GPT-Live server events: every field of each real event wrong, plus shapeless
 * frames and the Realtime API's events. `session.closed` is left out: any one ends the session.
 */
export function liveGarbage(random: () => number): Frame[] {
  const templates = liveTemplates();
  return shuffle(random, [
    ...mutations(random, templates),
    ...shapeless(random, templates),
    ...realtimeTemplates().map((t) => JSON.stringify(t)),
  ]);
}
