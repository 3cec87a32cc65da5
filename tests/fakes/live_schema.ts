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

import { LIVE_VOICES } from "../../src/engines/voices.ts";

/** A Live `Error` (the `error` of an `error` server event). */
export interface LiveWireError {
  type: "invalid_request_error";
  code: string;
  message: string;
  param?: string;
}

type Schema =
  | { kind: "string"; base64?: boolean }
  | { kind: "number"; integer?: boolean }
  | { kind: "boolean" }
  | { kind: "enum"; values: readonly (string | number)[] }
  | { kind: "nullable"; of: Schema }
  | { kind: "array"; of: Schema; max?: number; length?: number }
  | { kind: "object"; fields: Record<string, Schema>; required: readonly string[] }
  | { kind: "anyObject" }
  | { kind: "union"; key: string; variants: Record<string, Schema>; otherwise?: Schema }
  | { kind: "oneOf"; of: readonly Schema[]; expected: string }
  | { kind: "unsupported"; shape?: Shape };

/** The JSON shape of a value, to pick the branch of a `oneOf`. */
type Shape = "string" | "number" | "boolean" | "object" | "array" | "null";

const str: Schema = { kind: "string" };
const int: Schema = { kind: "number", integer: true };
const bool: Schema = { kind: "boolean" };
const unsupported: Schema = { kind: "unsupported" };
const nullable = (of: Schema): Schema => ({ kind: "nullable", of });
const oneOf = (values: readonly (string | number)[]): Schema => ({ kind: "enum", values });
const obj = (fields: Record<string, Schema>, required: readonly string[] = []): Schema => ({
  kind: "object",
  fields,
  required,
});
const command = (type: string, fields: Record<string, Schema> = {}, required: string[] = []): Schema =>
  obj({ type: oneOf([type]), event_id: nullable(str), ...fields }, ["type", ...required]);

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

function check(schema: Schema, value: unknown, path: string): LiveWireError | undefined {
  switch (schema.kind) {
    case "string":
      if (typeof value !== "string") return wrongType(path, "a string", value);
      if (schema.base64 === true && !(value.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(value))) {
        return fail("invalid_value", `Invalid '${path}': not valid base64.`, path);
      }
      return undefined;
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) return wrongType(path, "a number", value);
      return schema.integer === true && !Number.isInteger(value)
        ? wrongType(path, "an integer", value)
        : undefined;
    case "boolean":
      return typeof value === "boolean" ? undefined : wrongType(path, "a boolean", value);
    case "enum":
      return schema.values.includes(value as string | number) ? undefined : fail(
        "invalid_value",
        `Invalid value: '${String(value)}'. Supported values are: ${
          schema.values.map((v) => `'${v}'`).join(", ")
        }.`,
        path,
      );
    case "nullable":
      return value === null ? undefined : check(schema.of, value, path);
    case "array":
      return checkArray(schema, value, path);
    case "object":
      return checkObject(schema, value, path);
    case "anyObject":
      return isObject(value) ? undefined : wrongType(path, "an object", value);
    case "union": {
      if (!isObject(value)) return wrongType(path, "an object", value);
      const key = join(path, schema.key);
      const tag = value[schema.key];
      const variant = schema.variants[String(tag)] ?? schema.otherwise;
      if (tag === undefined && variant === undefined) {
        return fail("missing_required_parameter", `Missing required parameter: '${key}'.`, key);
      }
      if (variant === undefined) return check(oneOf(Object.keys(schema.variants)), tag, key);
      return check(variant, value, path);
    }
    case "oneOf": {
      const branch = schema.of.find((s) => shapeOf(s) === shapeOfValue(value));
      return branch === undefined ? wrongType(path, schema.expected, value) : check(branch, value, path);
    }
    case "unsupported":
      return fail(
        "fake_unsupported",
        `FakeLiveServer does not implement '${path}' (the types define it); extend tests/fakes/live_schema.ts.`,
        path,
      );
  }
}

function checkArray(schema: Extract<Schema, { kind: "array" }>, value: unknown, path: string) {
  if (!Array.isArray(value)) return wrongType(path, "an array", value);
  if (schema.max !== undefined && value.length > schema.max) {
    return fail(
      "array_above_max_length",
      `Invalid '${path}': array too long. Expected an array with maximum length ${schema.max}, but got an array with length ${value.length} instead.`,
      path,
    );
  }
  if (schema.length !== undefined && value.length !== schema.length) {
    return fail("invalid_value", `Invalid '${path}': supply exactly ${schema.length} part(s).`, path);
  }
  for (let i = 0; i < value.length; i++) {
    const error = check(schema.of, value[i], `${path}[${i}]`);
    if (error !== undefined) return error;
  }
  return undefined;
}

function checkObject(schema: Extract<Schema, { kind: "object" }>, value: unknown, path: string) {
  if (!isObject(value)) return wrongType(path, "an object", value);
  for (const key of Object.keys(value)) {
    if (!(key in schema.fields)) {
      return fail("unknown_parameter", `Unknown parameter: '${join(path, key)}'.`, join(path, key));
    }
  }
  for (const key of schema.required) {
    if (value[key] === undefined) {
      return fail(
        "missing_required_parameter",
        `Missing required parameter: '${join(path, key)}'.`,
        join(path, key),
      );
    }
  }
  for (const [key, field] of Object.entries(schema.fields)) {
    if (value[key] === undefined) continue;
    const error = check(field, value[key], join(path, key));
    if (error !== undefined) return error;
  }
  return undefined;
}

function shapeOf(schema: Schema): Shape | undefined {
  switch (schema.kind) {
    case "string":
    case "number":
    case "boolean":
      return schema.kind;
    case "enum":
      return typeof schema.values[0] === "number" ? "number" : "string";
    case "array":
      return "array";
    case "object":
    case "anyObject":
    case "union":
      return "object";
    case "unsupported":
      return schema.shape;
    default:
      return undefined;
  }
}

function shapeOfValue(value: unknown): Shape {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  const type = typeof value;
  return type === "string" || type === "number" || type === "boolean" ? type : "object";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

function wrongType(path: string, expected: string, value: unknown): LiveWireError {
  const got = value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
  return fail(
    "invalid_type",
    `Invalid type for '${path}': expected ${expected}, but got ${got} instead.`,
    path,
  );
}

/** A Live error of type `invalid_request_error`. */
export function fail(code: string, message: string, param: string | undefined): LiveWireError {
  return { type: "invalid_request_error", code, message, ...(param === undefined ? {} : { param }) };
}
