/**
 * Persona tools: functions a persona lets the agent call (look up an order, book a slot), and the
 * checks that name the file, the tool and the field when a declaration is wrong.
 *
 * @module
 */

import { describe } from "../engines/settings_checks.ts";
import { JSON_SCHEMA_TYPES } from "./analysis_schema.ts";

/** What a tool's `run` is given besides its arguments. */
export interface ToolCallContext {
  /** Twilio's CallSid (`CA…`). */
  callSid: string;
  /** The call's custom parameters. */
  parameters: Readonly<Record<string, string>>;
  /** The persona that offered the tool. */
  personaId: string;
  /** Writes one line to Parley's log, tagged with the call and the tool. */
  log(message: string): void;
  /** Aborted when the call ends or the tool's time is up. */
  signal: AbortSignal;
}

/** A JSON schema describing a tool's arguments; the top level must be an object schema. */
export interface ToolParameters {
  type: "object";
  properties?: Record<string, unknown>;
  required?: string[];
  [keyword: string]: unknown;
}

/** A function the agent may call. */
export interface PersonaTool {
  /** `^[a-zA-Z0-9_-]{1,64}$`, unique within the persona, not one of the built-ins. */
  name: string;
  /** What it does and when to use it: the model reads this. */
  description: string;
  /** JSON schema of the arguments. @default { type: "object", properties: {} } */
  parameters?: ToolParameters;
  /** Does the work; its result (any JSON value) is what the model is told. */
  run(args: Record<string, unknown>, call: ToolCallContext): unknown | Promise<unknown>;
  /** Abandon `run` after this many ms and tell the model it failed. 1 to 120000. @default 10000 */
  timeoutMs?: number;
}

/** Tools Parley itself offers, which a persona's own tools may not shadow. */
export const BUILT_IN_TOOL_NAMES = ["end_call", "do_not_call", "transfer_call", "press_keys"] as const;

/** The pattern OpenAI accepts for function names. */
export const TOOL_NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;

const TOOL_FIELDS = ["name", "description", "parameters", "run", "timeoutMs"] as const;

/** Reports one problem: `field` is the path inside the persona, e.g. `tools[0] (lookup_order).run`. */
export type ToolProblemReport = (field: string, detail: string) => void;

/**
 * Checks a persona's `tools` value; every problem goes to `report`, naming the tool and the field.
 *
 * @example
 * ```ts
 * const problems: string[] = [];
 * checkTools([{ name: "end_call", description: "x", run() {} }], (f, d) => problems.push(`${f}: ${d}`));
 * // problems[0] === 'tools[0] (end_call).name: "end_call" is built in; choose another name'
 * ```
 */
export function checkTools(value: unknown, report: ToolProblemReport): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) {
    report("tools", "not a list; write tools: [{ name, description, parameters, run }]");
    return;
  }
  const seen = new Set<string>();
  value.forEach((tool: unknown, index) => {
    const label = isRecord(tool) && typeof tool.name === "string" ? ` (${tool.name})` : "";
    const at = (field: string) => `tools[${index}]${label}${field === "" ? "" : `.${field}`}`;
    if (!isRecord(tool)) {
      report(at(""), "not an object; write { name, description, parameters, run }");
      return;
    }
    for (const key of Object.keys(tool)) {
      if (!(TOOL_FIELDS as readonly string[]).includes(key)) {
        report(at(key), `unknown field; a tool has ${TOOL_FIELDS.join(", ")}`);
      }
    }
    checkName(tool.name, at("name"), seen, report);
    if (typeof tool.description !== "string" || tool.description.trim() === "") {
      report(at("description"), "missing; say what the tool does and when the agent should use it");
    }
    checkParameters(tool.parameters, at("parameters"), report);
    if (typeof tool.run !== "function") {
      report(at("run"), "missing or not a function; write run(args, call) { … } returning the result");
    }
    const timeout = tool.timeoutMs;
    if (
      timeout !== undefined &&
      !(Number.isInteger(timeout) && Number(timeout) >= 1 && Number(timeout) <= 120_000)
    ) {
      report(at("timeoutMs"), `${describe(timeout)} is not a whole number of ms from 1 to 120000`);
    }
  });
}

function checkName(name: unknown, field: string, seen: Set<string>, report: ToolProblemReport): void {
  if (typeof name !== "string" || !TOOL_NAME_PATTERN.test(name)) {
    report(
      field,
      `${name === undefined ? "missing" : describe(name)} must be 1 to 64 letters, digits, _ or -`,
    );
    return;
  }
  if ((BUILT_IN_TOOL_NAMES as readonly string[]).includes(name)) {
    report(
      field,
      `"${name}" is built in; choose another name (built-ins: ${BUILT_IN_TOOL_NAMES.join(", ")})`,
    );
  } else if (seen.has(name)) {
    report(field, `"${name}" is declared twice; tool names must be unique`);
  }
  seen.add(name);
}

function checkParameters(parameters: unknown, field: string, report: ToolProblemReport): void {
  if (parameters === undefined) return;
  if (!isRecord(parameters) || parameters.type !== "object") {
    report(field, 'must be a JSON schema of type "object", e.g. { type: "object", properties: { … } }');
    return;
  }
  // The schema goes to the model as JSON in every call's session: one JSON cannot write (a cycle, a
  // BigInt) would fail each call to this persona, so it is refused here, before the walk below.
  const unwritable = jsonProblem(parameters);
  if (unwritable !== undefined) {
    report(field, `cannot be sent as JSON (${unwritable}); write a plain schema, without cycles or BigInts`);
    return;
  }
  checkProperties(parameters, field, report);
  const required = parameters.required;
  if (required !== undefined && !(Array.isArray(required) && required.every((r) => typeof r === "string"))) {
    report(`${field}.required`, "must be a list of argument names");
  }
}

/**
 * Checks the schemas under `schema`'s `properties` and `items`, down to the leaves: each is an object
 * whose `type`, if any, is a JSON Schema type or a list of them. Not a full JSON Schema validation.
 */
function checkProperties(schema: Record<string, unknown>, field: string, report: ToolProblemReport): void {
  const { properties, items } = schema;
  if (properties !== undefined && !isRecord(properties)) {
    report(`${field}.properties`, "must be an object mapping argument names to schemas");
  } else if (properties !== undefined) {
    for (const [name, property] of Object.entries(properties)) {
      checkSchema(property, `${field}.properties.${name}`, report);
    }
  }
  // `items` may also be a list of schemas (a tuple) or true/false; only what is clearly not a schema is refused.
  if (Array.isArray(items)) items.forEach((item, i) => checkSchema(item, `${field}.items[${i}]`, report));
  else if (items !== undefined && typeof items !== "boolean") checkSchema(items, `${field}.items`, report);
}

function checkSchema(schema: unknown, field: string, report: ToolProblemReport): void {
  if (!isRecord(schema)) {
    report(field, `${describe(schema)} is not a JSON schema; write one, e.g. { type: "string" }`);
    return;
  }
  const type = schema.type;
  const types: readonly unknown[] = Array.isArray(type) ? type : [type];
  const wrong = types.find((t) => !(JSON_SCHEMA_TYPES as readonly unknown[]).includes(t));
  if (type !== undefined && (wrong !== undefined || types.length === 0)) {
    report(
      `${field}.type`,
      `${describe(types.length === 0 ? type : wrong)} is not a JSON Schema type; use one of ${
        JSON_SCHEMA_TYPES.join(", ")
      }, or a list of them`,
    );
  }
  checkProperties(schema, field, report);
}

/** Why `JSON.stringify` refuses `value` (its first line), or undefined when it writes it. */
function jsonProblem(value: unknown): string | undefined {
  try {
    JSON.stringify(value);
    return undefined;
  } catch (error) {
    return (error instanceof Error ? error.message : String(error)).split("\n")[0];
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
