/**
 * Every client event Parley sends, on each engine, type-checks against the official SDK's own
 * definitions: npm `openai@7.57.0` (`resources/realtime` and `resources/live`), a test-only
 * dependency. The events are built with Parley's real builders, written as literals into a temporary
 * module (`const e0 = {…} satisfies RealtimeClientEvent;`) and checked by `deno check` in a
 * subprocess, so an extra, missing or misspelt field fails here before a server refuses it. A
 * deliberately wrong module proves the check can fail, and every exported `…Event` builder must be
 * exercised, so a new one cannot slip past. The Responses requests (post-call analysis, the rehearsal
 * judge) are checked the same way, and every module that must fail is checked in one run.
 */

import assert from "node:assert/strict";
import { buildAnalysisRequest } from "../../src/analysis/request.ts";
import * as liveEvents from "../../src/engines/live/events.ts";
import * as liveSession from "../../src/engines/live/session.ts";
import { LIVE_VOICES } from "../../src/engines/voices.ts";
import type { Persona } from "../../src/personas/types.ts";
import { checkClientEvent } from "../../testing/live_schema.ts";
import { typeCheck, typeCheckModule, type TypeCheckResult } from "../../testing/type_check.ts";
import * as realtimeEvents from "../../src/engines/realtime/events.ts";
import * as realtimeSession from "../../src/engines/realtime/session.ts";
import { offeredTools } from "../../src/relay/built_in_tools.ts";
import { judgeRequest } from "../../src/rehearsal/judge.ts";

/** Every tool Parley offers: a persona tool and the three built-ins. */
const ALL_TOOLS = offeredTools({
  voice: "marin",
  instructions: "x",
  endCall: true,
  transfer: { to: "+14155550100" },
  keypad: true,
  tools: [{
    name: "lookup_order",
    description: "Looks up an order.",
    parameters: { type: "object", properties: { order: { type: "string" } }, required: ["order"] },
    run: () => ({}),
  }],
});

const PAYLOAD = "//////////8=";
const CONTEXT = { parameters: { persona: "tester", lead: "Ada" }, callSid: "CA123", streamSid: "MZ123" };

/** The test personas plus variants that reach every branch of `session.update`. */
async function personas(): Promise<Persona[]> {
  const dir = new URL("../testdata/personas/", import.meta.url);
  const files = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".ts")).map((e) => e.name).sort();
  const loaded = await Promise.all(
    files.map(async (f) => (await import(new URL(f, dir).href)).default as Persona),
  );
  return [
    ...loaded,
    { voice: "cedar", instructions: "Plain." },
    {
      voice: "ash",
      instructions: "x",
      noiseReduction: "off",
      maxOutputTokens: "inf",
      reasoning: { effort: "low" },
    },
  ];
}

function render(persona: Persona): string {
  return typeof persona.instructions === "function" ? persona.instructions(CONTEXT) : persona.instructions;
}

/**
 * The one known gap between the wire and the SDK's types: `noise_reduction: null` turns noise
 * reduction off (the API reference and the SDK's own doc comment on `RealtimeAudioConfigInput`
 * say so), but openai@7.57.0 types the field without `null`. The null is taken out before the
 * check, and only where it is exactly null, so anything else in that field is still checked.
 */
function withoutNullNoiseReduction(event: string): string {
  const parsed = JSON.parse(event);
  const input = parsed.session?.audio?.input;
  if (input?.noise_reduction !== null) return event;
  delete input.noise_reduction;
  return JSON.stringify(parsed);
}

type Builders = Record<string, () => string[] | Promise<string[]>>;

const REALTIME: Builders = {
  sessionUpdateEvent: async () =>
    (await personas()).map((p) =>
      withoutNullNoiseReduction(
        realtimeSession.sessionUpdateEvent(p, { model: "gpt-realtime-2.1", instructions: render(p) }),
      )
    ).concat([
      realtimeSession.sessionUpdateEvent({ voice: "marin" }, {
        model: "gpt-realtime-2.1",
        instructions: "Use the tools.",
        tools: ALL_TOOLS,
      }),
    ]),
  functionCallOutputEvent: () => [realtimeEvents.functionCallOutputEvent("call_1", '{"ok":true}')],
  appendAudioEvent: () => [realtimeEvents.appendAudioEvent(PAYLOAD)],
  responseCreateEvent:
    () => [realtimeEvents.responseCreateEvent(), realtimeEvents.responseCreateEvent("Greet.")],
  responseCancelEvent: () => [realtimeEvents.responseCancelEvent()],
  commitAudioEvent: () => [realtimeEvents.commitAudioEvent()],
  truncateEvent: () => [realtimeEvents.truncateEvent("item_1", 1234.6)],
  historyItemEvent: () => [
    realtimeEvents.historyItemEvent("caller", "I'd like a quote."),
    realtimeEvents.historyItemEvent("agent", "Sure, for how many seats?"),
  ],
};

const LIVE: Builders = {
  sessionStartEvent: async () => [
    ...(await personas()).map((p) =>
      liveSession.sessionStartEvent({ voice: "marin" }, { model: "gpt-live-1.1", instructions: render(p) })
    ),
    liveSession.sessionStartEvent({ voice: "cedar" }, {
      model: "gpt-live-1",
      instructions: "Resume the call.",
      eventId: "start_1",
      history: [
        { role: "developer", text: "The line dropped; carry on." },
        { role: "user", text: "I'd like a quote." },
        { role: "assistant", text: "Sure, for how many seats?" },
      ],
      delegation: {
        model: "gpt-5.5",
        instructions: "Use the tools.",
        tools: [
          { name: "end_call" },
          { name: "lookup", description: "Find a lead.", parameters: { type: "object", properties: {} } },
        ],
      },
    }),
    liveSession.sessionStartEvent({ voice: "marin" }, {
      model: "gpt-live-1.1",
      instructions: "Use the tools.",
      delegation: { model: "gpt-5.5", tools: ALL_TOOLS },
    }),
  ],
  inputAudioAppendEvent: () => [liveEvents.inputAudioAppendEvent(PAYLOAD)],
  commentaryAppendEvent: () => [
    liveEvents.commentaryAppendEvent("Greet the caller."),
    liveEvents.commentaryAppendEvent("Done.", { delegationId: "deleg_1", eventId: "c1" }),
  ],
  functionCallOutputEvent:
    () => [liveEvents.functionCallOutputEvent("call_1", '{"ok":true}', { eventId: "o1" })],
  responseCreateEvent:
    () => [liveEvents.responseCreateEvent(), liveEvents.responseCreateEvent({ eventId: "r1" })],
  sessionCloseEvent: () => [liveEvents.sessionCloseEvent(), liveEvents.sessionCloseEvent({ eventId: "bye" })],
};

const HEADER = [
  `import type { RealtimeClientEvent } from "openai/resources/realtime/realtime";`,
  `import type { BuiltInVoice, ClientEvent as LiveClientEvent } from "openai/resources/live/live";`,
].join("\n");

async function literals(builders: Builders, type: string, prefix: string): Promise<string[]> {
  const lines: string[] = [];
  for (const [name, build] of Object.entries(builders)) {
    for (const [i, event] of (await build()).entries()) {
      lines.push(`// ${name} #${i}\nconst ${prefix}${lines.length} = ${event} satisfies ${type};`);
    }
  }
  return lines;
}

function exportedBuilders(...modules: Record<string, unknown>[]): string[] {
  return modules.flatMap((m) =>
    Object.entries(m).filter(([name, value]) =>
      typeof value === "function" && name.endsWith("Event") && !name.startsWith("parse")
    ).map((
      [n],
    ) => n)
  ).sort();
}

Deno.test("every exported event builder of each engine is in the SDK type check", () => {
  assert.deepEqual(Object.keys(REALTIME).sort(), exportedBuilders(realtimeEvents, realtimeSession));
  assert.deepEqual(Object.keys(LIVE).sort(), exportedBuilders(liveEvents, liveSession));
});

Deno.test("every client event Parley sends type-checks against npm openai@7.57.0", async () => {
  const voices = LIVE_VOICES.map((v) => JSON.stringify(v)).join(", ");
  const source = [
    HEADER,
    ...await literals(REALTIME, "RealtimeClientEvent", "realtime"),
    ...await literals(LIVE, "LiveClientEvent", "live"),
    // LIVE_VOICES is exactly the SDK's BuiltInVoice, both ways.
    `const voices = [${voices}] as const;`,
    `type Voice = typeof voices[number];`,
    `const same: [Voice] extends [BuiltInVoice] ? ([BuiltInVoice] extends [Voice] ? true : false) : false = true;`,
    `export { same };`,
  ].join("\n");
  const { ok, output } = await typeCheckModule(source);
  assert.ok(ok, `deno check failed:\n${output}\n--- checked module ---\n${source}`);
});

/** Events the SDK types do not have: every line from the third on is a type error. */
function wrongEventsModule(): string {
  return [
    HEADER,
    // Realtime beta shape, switched off on 2026-05-12.
    `const a = {"type":"session.update","session":{"type":"realtime","input_audio_format":"g711_ulaw"}} satisfies RealtimeClientEvent;`,
    // GPT-Live has no turn detection: the model owns turn-taking.
    `const b = {"type":"session.start","session":{"model":"gpt-live-1","turn_detection":{"type":"server_vad"}}} satisfies LiveClientEvent;`,
    // GPT-Live cannot cancel a response.
    `const c = {"type":"response.cancel"} satisfies LiveClientEvent;`,
    // The greeting's delegation_id is required (nullable), not optional.
    `const d = {"type":"session.commentary.append","content":"Hi"} satisfies LiveClientEvent;`,
    // A voice GPT-Live does not have.
    `const e: BuiltInVoice = "nova";`,
    `export { a, b, c, d, e };`,
  ].join("\n");
}

Deno.test("the SDK type check rejects events the types do not have", async () => {
  const { ok, output } = (await refusedModules()).events;
  assert.equal(ok, false, "deno check accepted events the SDK types do not have");
  for (const line of [3, 4, 5, 6, 7]) {
    assert.match(output, new RegExp(`\\.ts:${line}:`), `no type error reported on line ${line}:\n${output}`);
  }
  assert.match(output, /input_audio_format/);
  assert.match(output, /turn_detection/);
});

/** Events the fake must judge as the SDK types do: valid ones, and one fault of each kind. */
const FAKE_CORPUS: unknown[] = [
  { type: "session.start", session: { model: "gpt-live-1" } },
  {
    type: "session.start",
    session: { model: "gpt-live-1", audio: { format: { type: "audio/pcm", rate: 24000 } } },
  },
  {
    type: "session.start",
    session: { model: "gpt-live-1", audio: { output: { voice: { id: "voice_1" } } } },
  },
  {
    type: "session.start",
    session: { model: "gpt-live-1", instructions: null, store: true, delegation: null },
  },
  { type: "session.start", session: { model: "gpt-live-1", delegation: { type: "client" } } },
  { type: "session.start", session: { model: 5 } },
  { type: "session.start", session: { instructions: "no model" } },
  { type: "session.start", session: { model: "gpt-live-1", voice: "marin" } },
  {
    type: "session.start",
    session: { model: "gpt-live-1", audio: { format: { type: "audio/wav", rate: 8000 } } },
  },
  { type: "session.start", session: { model: "gpt-live-1", audio: { format: { type: "audio/pcmu" } } } },
  {
    type: "session.start",
    session: {
      model: "m",
      delegation: { type: "responses", responses: { model: "r", tools: [{ type: "function" }] } },
    },
  },
  {
    type: "session.start",
    session: { model: "m", input: [{ role: "user", content: [{ type: "output_text", text: "hi" }] }] },
  },
  { type: "session.start", session: { model: "m", input: [{ role: "system", content: [{ text: "hi" }] }] } },
  { type: "session.input_audio.append", audio: "AAAA", event_id: null },
  { type: "session.input_audio.append" },
  { type: "session.commentary.append", content: "Hi", delegation_id: null, event_id: "e" },
  { type: "session.thinking.append", content: "Hmm", delegation_id: "d" },
  { type: "session.instructions.append", content: 5, delegation_id: null },
  { type: "session.input_audio.mute" },
  { type: "session.input_audio.unmute", reason: "x" },
  { type: "response.item.create", item: { type: "function_call_output", call_id: "c", output: "{}" } },
  { type: "response.item.create", item: { type: "function_call_output", call_id: "c" } },
  { type: "response.create" },
  { type: "response.create", response: {} },
  { type: "session.close" },
  { type: "session.closed" },
  { type: "input_audio_buffer.append", audio: "AAAA" },
];

/** The fake's corpus as a module: line `offset + i` holds event `i`. */
function corpusModule(): string {
  const lines = FAKE_CORPUS.map((e, i) => `const c${i} = ${JSON.stringify(e)} satisfies LiveClientEvent;`);
  return [HEADER, ...lines, `export {};`].join("\n");
}

Deno.test("the GPT-Live fake accepts and refuses exactly what the SDK types do", async () => {
  const { output } = (await refusedModules()).corpus;
  const offset = HEADER.split("\n").length + 1;
  const refusedByTypes = new Set([...output.matchAll(/\.ts:(\d+):/g)].map((m) => Number(m[1]) - offset));
  const verdicts = FAKE_CORPUS.map((event, i) => ({
    event: JSON.stringify(event),
    types: refusedByTypes.has(i) ? "refused" : "accepted",
    fake: checkClientEvent(event) === undefined ? "accepted" : "refused",
  }));
  const disagreements = verdicts.filter((v) => v.types !== v.fake);
  assert.deepEqual(disagreements, [], output);
  assert.ok(verdicts.some((v) => v.types === "refused") && verdicts.some((v) => v.types === "accepted"));
});

const RESPONSES_HEADER =
  `import type { ResponseCreateParamsNonStreaming } from "openai/resources/responses/responses";`;

/** Two analysis requests Parley builds, for the Responses types. */
function analysisRequests() {
  const schema = {
    type: "object",
    properties: { interested: { type: "boolean" } },
    required: ["interested"],
    additionalProperties: false,
  };
  const call = {
    callSid: "CA123",
    persona: "alex",
    direction: "outbound-api",
    from: "+14155550100",
    to: "+14155550111",
    parameters: { lead: "Ada" },
    startedAt: 1_000,
    endedAt: 9_000,
    durationMs: 8_000,
    endReason: "caller_hung_up" as const,
    transcript: [{
      at: 2_000,
      speaker: "caller" as const,
      text: "Hi",
      interruptedAtMs: null,
      spokenAt: null,
    }],
    toolCalls: [],
  };
  const requests = [
    buildAnalysisRequest({ persona: "alex", model: "gpt-5-mini", schema, instructions: "Judge." }, call),
    buildAnalysisRequest({ persona: "alex", model: "gpt-5", schema, instructions: null }, call),
  ];
  return requests;
}

/** The Chat Completions shape, not the Responses one: the check must catch it. */
function chatCompletionsModule(): string {
  const requests = analysisRequests();
  return [
    RESPONSES_HEADER,
    `export const w = ${
      JSON.stringify({ ...requests[0], text: undefined, response_format: requests[0]!.text.format })
    } satisfies ResponseCreateParamsNonStreaming;`,
  ].join("\n");
}

/** The rehearsal judge's request (`deno task rehearse`), for the Responses types. */
function judgeRequestText(): string {
  const transcript = [
    { speaker: "agent" as const, text: "Hello, Harbor Law, how can I help?" },
    { speaker: "caller" as const, text: "Can I leave a message for Priya?" },
  ];
  const criteria = [
    { name: "greets", text: "the agent said the name of the business" },
    { name: "price", text: "the agent never named a price" },
  ];
  return JSON.stringify(judgeRequest("gpt-5-mini", transcript, criteria));
}

/** `request` (a JSON literal) as a module that must satisfy the Responses request type. */
function responsesRequestModule(request: string): string {
  return `${RESPONSES_HEADER}\nexport const request = ${request} satisfies ResponseCreateParamsNonStreaming;\n`;
}

/** The judge's request with a misspelt field: the check must catch it. */
function judgeTypoModule(): string {
  return responsesRequestModule(judgeRequestText().replace('"text":{"format"', '"text":{"fromat"'));
}

type Refused = "events" | "corpus" | "chatCompletions" | "judgeTypo";

/**
 * The modules that must fail the type check, checked in one run of the type checker (a failing check
 * is never cached: each costs about a core-second on its own), started by the first test that needs it.
 */
let refused: Promise<Record<Refused, TypeCheckResult>> | undefined;
function refusedModules(): Promise<Record<Refused, TypeCheckResult>> {
  return refused ??= typeCheck([
    wrongEventsModule(),
    corpusModule(),
    chatCompletionsModule(),
    judgeTypoModule(),
  ])
    .then(([events, corpus, chatCompletions, judgeTypo]) => ({
      events: events!,
      corpus: corpus!,
      chatCompletions: chatCompletions!,
      judgeTypo: judgeTypo!,
    }));
}

Deno.test("the post-call analysis request type-checks against npm openai's Responses types", async () => {
  const requests = analysisRequests();
  const good = [
    RESPONSES_HEADER,
    ...requests.map((r, i) =>
      `export const r${i} = ${JSON.stringify(r)} satisfies ResponseCreateParamsNonStreaming;`
    ),
  ].join("\n");
  const checked = await typeCheckModule(good);
  assert.ok(checked.ok, `deno check failed:\n${checked.output}\n--- checked module ---\n${good}`);

  // The Chat Completions shape is not the Responses one: the check must catch it.
  const refused = (await refusedModules()).chatCompletions;
  assert.equal(refused.ok, false, "deno check accepted response_format");
  assert.match(refused.output, /response_format/);
});

Deno.test("the rehearsal judge's request type-checks against npm openai's Responses types", async () => {
  const request = judgeRequestText();
  assert.ok(request.includes('"text":{"format"'), "the misspelling below has a field to change");
  const checked = await typeCheckModule(responsesRequestModule(request));
  assert.ok(checked.ok, checked.output);
  // The check can fail: a misspelt field is caught.
  const wrong = (await refusedModules()).judgeTypo;
  assert.equal(wrong.ok, false, "deno check accepted text.fromat");
  assert.match(wrong.output, /fromat/);
});
