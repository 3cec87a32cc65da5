/**
 * The GPT-Live client events as FakeLiveServer checks them: a transcription of npm
 * `openai@7.57.0` `resources/live/live.d.ts` (`ClientEvent` and what it references) into a small
 * runtime schema, so the fake refuses what the types do not have, as the real server (whose session
 * config "rejects unknown fields") does.
 *
 * Errors follow the Live `Error` type `{type, code, message, param?}`. The types document
 * `unknown_parameter` and `invalid_request_error`; the other codes and the message wording are
 * those the OpenAI APIs use for the same faults (`missing_required_parameter`, `invalid_type`,
 * `invalid_value`, `string_above_max_length`, as the Realtime API sends them) — an assumption for
 * GPT-Live. Parameters are named from inside the event, e.g. `session.audio.format.rate`.
 *
 * Parts of the types Parley has no use for (decisions, triggers, WebRTC `client`, fixtures, hosted
 * tools, non-text outputs) are accepted as names but answered `fake_unsupported`, so a test that
 * reaches them fails loudly instead of passing against an invented shape.
 *
 * @module
 */

import { LIVE_VOICES } from "../src/engines/voices.ts";
import {
  bool,
  check,
  command,
  fail,
  int,
  nullable,
  obj,
  oneOf,
  type Schema,
  str,
  unsupported,
  type WireError,
} from "./schema_check.ts";

export { fail } from "./schema_check.ts";

/** A Live `Error` (the `error` of an `error` server event): `{type, code, message, param?}`. */
export type LiveWireError = WireError;

const textPart = (partType: string[]): Schema => obj({ text: str, type: oneOf(partType) }, ["text"]);
const initialItem = (role: string, content: Schema): Schema =>
  obj({
    role: oneOf([role]),
    content: { kind: "array", of: content, length: 1 },
    id: nullable(str),
    status: nullable(oneOf(["incomplete", "completed"])),
    type: oneOf(["message"]),
  }, ["role", "content"]);

const functionTool = obj({
  type: oneOf(["function"]),
  name: str,
  description: nullable(str),
  parameters: nullable({ kind: "anyObject" }),
  strict: nullable(bool),
}, ["type", "name"]);

const HOSTED_TOOL_TYPES = [
  "web_search",
  "file_search",
  "code_interpreter",
  "shell",
  "image_generation",
  "mcp",
  "custom",
  "namespace",
  "tool_search",
  "programmatic_tool_calling",
  "computer",
  "apply_patch",
];

const TOOL_CHOICE_TYPES = [
  "mcp",
  "file_search",
  "web_search",
  "web_search_preview",
  "image_generation",
  "computer",
  "code_interpreter",
  "programmatic_tool_calling",
  "shell",
  "custom",
  "apply_patch",
  "allowed_tools",
];

function unsupportedVariants(types: readonly string[]): Record<string, Schema> {
  return Object.fromEntries(types.map((t) => [t, unsupported]));
}

const responsesDelegation = obj({
  model: str,
  instructions: nullable(str),
  max_output_tokens: nullable(int),
  parallel_tool_calls: nullable(bool),
  reasoning: nullable(obj({
    effort: nullable(oneOf(["none", "minimal", "low", "medium", "high", "xhigh"])),
    summary: nullable(oneOf(["concise", "detailed", "auto"])),
  })),
  service_tier: nullable(oneOf(["auto", "default", "fast_tier_temp_pilot", "flex", "priority", "ultrafast"])),
  text: nullable(obj({ verbosity: nullable(oneOf(["low", "medium", "high"])) })),
  tool_choice: {
    kind: "oneOf",
    of: [oneOf(["auto", "none", "required"]), {
      kind: "union",
      key: "type",
      variants: {
        function: obj({ type: str, name: str }, ["type", "name"]),
        ...unsupportedVariants(TOOL_CHOICE_TYPES),
      },
    }],
    expected: "'auto', 'none', 'required' or a function choice",
  },
  tools: {
    kind: "array",
    of: {
      kind: "union",
      key: "type",
      variants: { function: functionTool, ...unsupportedVariants(HOSTED_TOOL_TYPES) },
    },
  },
}, ["model"]);

const sessionConfig = obj({
  model: str,
  audio: obj({
    format: {
      kind: "union",
      key: "type",
      variants: {
        "audio/pcm": obj({ type: str, rate: oneOf([16000, 24000]) }, ["type", "rate"]),
        "audio/pcmu": obj({ type: str, rate: oneOf([8000]) }, ["type", "rate"]),
        "audio/pcma": obj({ type: str, rate: oneOf([8000]) }, ["type", "rate"]),
      },
    },
    output: obj({
      voice: {
        kind: "oneOf",
        of: [oneOf(LIVE_VOICES), obj({ id: str }, ["id"])],
        expected: "a built-in voice",
      },
    }),
  }),
  client: unsupported,
  delegation: nullable({
    kind: "union",
    key: "type",
    variants: {
      client: obj({ type: str, acknowledgement_delay_ms: int }, ["type"]),
      responses: obj({ type: str, responses: responsesDelegation, acknowledgement_delay_ms: int }, [
        "type",
        "responses",
      ]),
      decisions: unsupported,
    },
  }),
  input: {
    kind: "array",
    max: 128,
    of: {
      kind: "union",
      key: "role",
      variants: {
        developer: initialItem("developer", textPart(["input_text"])),
        user: initialItem("user", textPart(["input_text"])),
        assistant: initialItem("assistant", textPart(["text", "output_text"])),
      },
    },
  },
  instructions: nullable(str),
  store: bool,
  triggers: unsupported,
}, ["model"]);

const contextAppend = (type: string) =>
  command(type, { content: str, delegation_id: nullable(str) }, ["content", "delegation_id"]);

/** Every client event type the Live types define, with its schema. */
const CLIENT_EVENTS: Record<string, Schema> = {
  "session.start": command("session.start", { session: sessionConfig }, ["session"]),
  "session.update": unsupported,
  "session.input_audio.append": command("session.input_audio.append", {
    audio: { kind: "string", base64: true },
  }, [
    "audio",
  ]),
  "session.input_audio.mute": command("session.input_audio.mute"),
  "session.input_audio.unmute": command("session.input_audio.unmute"),
  "session.output_audio.fixture.play": unsupported,
  "session.instructions.append": contextAppend("session.instructions.append"),
  "session.thinking.append": contextAppend("session.thinking.append"),
  "session.commentary.append": contextAppend("session.commentary.append"),
  "decision.create": unsupported,
  "decision.item.create": unsupported,
  "decision.item.delete": unsupported,
  "response.item.create": command("response.item.create", {
    item: {
      kind: "union",
      key: "type",
      variants: {
        function_call_output: obj({
          type: str,
          call_id: nullable(str),
          output: { kind: "oneOf", of: [str, { kind: "unsupported", shape: "array" }], expected: "a string" },
          id: nullable(str),
          status: nullable(oneOf(["in_progress", "completed", "incomplete"])),
        }, ["type", "output"]),
        message: obj({
          type: str,
          role: oneOf(["user", "assistant", "system", "developer"]),
          content: {
            kind: "oneOf",
            of: [str, { kind: "unsupported", shape: "array" }],
            expected: "a string",
          },
        }, ["role", "content"]),
      },
      // ResponseInputItem has some thirty more item types; none is Parley's to send.
      otherwise: unsupported,
    },
  }, ["item"]),
  "response.create": command("response.create"),
  "session.close": command("session.close"),
};

/** The client event types of the Live types. */
export const LIVE_CLIENT_EVENT_TYPES: readonly string[] = Object.keys(CLIENT_EVENTS);

/**
 * Checks one parsed client event against the types; undefined when it conforms, else the error the
 * server answers with.
 */
export function checkClientEvent(event: unknown): LiveWireError | undefined {
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    return fail("invalid_type", "Invalid type for event: expected an object.", undefined);
  }
  const type = (event as Record<string, unknown>).type;
  if (typeof type !== "string") {
    return fail("missing_required_parameter", "Missing required parameter: 'type'.", "type");
  }
  const schema = CLIENT_EVENTS[type];
  if (schema === undefined) {
    return fail(
      "invalid_value",
      `Invalid value: '${type}'. Supported values are: ${
        LIVE_CLIENT_EVENT_TYPES.map((t) => `'${t}'`).join(", ")
      }.`,
      "type",
    );
  }
  return check(schema, event, "");
}
