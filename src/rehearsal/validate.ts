/**
 * Checks a scenario file's default export and reports every problem at once, each line naming the
 * file and the field (`scenarios/x.ts: expect[2].toolCalled: …`), like persona validation.
 *
 * @module
 */

import { END_REASONS } from "../calls/call_events.ts";
import { engineForModel, modelProblem } from "../engines/registry.ts";
import { checkNumber, checkText, describe, isRecord, unknownField } from "../engines/settings_checks.ts";
import { voiceProblem } from "../engines/voices.ts";
import { ANSWERED_BY, type Scenario } from "./types.ts";
import { checkToolName } from "./validate_tools.ts";

/** A scenario and no problems, or no scenario and the problems that stop it loading. */
export type ScenarioValidation =
  | { scenario: Scenario; problems: string[] }
  | { scenario: undefined; problems: string[] };

/** Every field a scenario may set (the validator refuses any other; the README's Rehearsals table lists them). */
export const SCENARIO_FIELDS: { [K in keyof Scenario]-?: true } = {
  persona: true,
  description: true,
  parameters: true,
  voice: true,
  caller: true,
  expect: true,
  runs: true,
  minPassRate: true,
  maxMinutes: true,
};
/** Every field of a scenario's `caller`. */
export const CALLER_FIELDS = ["instructions", "voice", "model", "answeredBy"] as const;

/** The kinds of check, each the one field (besides `name`) that says what a check looks at. */
export const CHECK_KINDS = [
  "endReason",
  "toolCalled",
  "toolNotCalled",
  "maxTurns",
  "p95LatencyMs",
  "maxDeadAirSeconds",
  "outcome",
  "judge",
] as const;

/**
 * What the scenario needs from the personas: their ids, the engine each runs on, and where known the
 * fields of their outcomes and the tools their calls offer.
 */
export interface ScenarioContext {
  /** Persona ids loaded. */
  personaIds: readonly string[];
  /** The model a persona without `model` runs (OPENAI_REALTIME_MODEL). */
  defaultModel: string;
  /** The model of persona `id` (its own, or undefined for the default). */
  personaModel?: (id: string) => string | undefined;
  /**
   * The top-level fields of persona `id`'s analysis schema, which `outcome` checks may name; undefined
   * when it has no analysis or they are not known (a running Parley's personas, `--url`).
   */
  personaOutcomeFields?: (id: string) => readonly string[] | undefined;
  /**
   * The names of the tools persona `id`'s calls offer the model (its own `tools`, then the built-in
   * actions it turns on: `offeredTools`), which `toolCalled` / `toolNotCalled` checks may name;
   * undefined when they are not known (a running Parley's personas, `--url`).
   */
  personaTools?: (id: string) => readonly string[] | undefined;
}

/** What the checks of `expect` need to know about the scenario's persona (known when it is). */
interface PersonaFacts {
  id?: string;
  outcomeFields?: readonly string[] | undefined;
  tools?: readonly string[] | undefined;
}

/**
 * Validates `value` (a scenario file's default export) shown as `file`.
 *
 * @example
 * ```ts
 * const { scenario, problems } = validateScenario(module.default, "scenarios/x.ts", context);
 * ```
 */
export function validateScenario(value: unknown, file: string, context: ScenarioContext): ScenarioValidation {
  const problems: string[] = [];
  const report = (field: string, detail: string) => problems.push(`${file}: ${field}: ${detail}`);
  if (!isRecord(value)) {
    problems.push(
      `${file}: default export: ${
        describe(value)
      } is not a scenario; export default { persona, caller, expect }`,
    );
    return { scenario: undefined, problems };
  }
  const known = Object.keys(SCENARIO_FIELDS);
  for (const key of Object.keys(value)) if (!known.includes(key)) report(key, unknownField(key, known));

  if (typeof value.persona !== "string" || value.persona === "") {
    report("persona", `${describe(value.persona)} is not a persona id; name a file of the personas folder`);
  } else if (!context.personaIds.includes(value.persona)) {
    report(
      "persona",
      `no persona "${value.persona.slice(0, 60)}"; known personas are ${context.personaIds.join(", ")}`,
    );
  }
  checkText(value.description, "description", "describe the scenario in a sentence", report);
  if (value.parameters !== undefined) {
    if (!isRecord(value.parameters)) report("parameters", `${describe(value.parameters)} is not an object`);
    else {
      for (const [name, v] of Object.entries(value.parameters)) {
        if (typeof v !== "string") report(`parameters.${name}`, `${describe(v)} is not a string`);
      }
    }
  }
  const personaModel = typeof value.persona === "string"
    ? context.personaModel?.(value.persona) ?? context.defaultModel
    : context.defaultModel;
  if (value.voice !== undefined) {
    const problem = typeof value.voice === "string"
      ? voiceProblem(value.voice, engineForModel(personaModel))
      : `${describe(value.voice)} is not a string`;
    if (problem !== undefined) report("voice", problem);
  }
  checkCaller(value.caller, context, report);
  checkExpect(value.expect, personaFacts(value.persona, context), report);
  checkNumber(
    value.runs,
    "runs",
    { min: 1, max: 20, integer: true },
    (f, d) => report(f, d.replace(" of milliseconds", "")),
  );
  checkNumber(value.minPassRate, "minPassRate", { min: 0, max: 1, integer: false }, report);
  checkNumber(value.maxMinutes, "maxMinutes", { min: 0.1, max: 30, integer: false }, report);
  if (problems.length > 0) return { scenario: undefined, problems };
  return { scenario: value as unknown as Scenario, problems };
}

function checkCaller(
  caller: unknown,
  context: ScenarioContext,
  report: (f: string, d: string) => void,
): void {
  if (!isRecord(caller)) {
    report(
      "caller",
      `${describe(caller)} is not an object; give { instructions: "who the caller is and what they want" }`,
    );
    return;
  }
  for (const key of Object.keys(caller)) {
    if (!(CALLER_FIELDS as readonly string[]).includes(key)) {
      report(`caller.${key}`, unknownField(key, CALLER_FIELDS));
    }
  }
  if (caller.instructions === undefined) {
    report("caller.instructions", "missing; say who the caller is and what they want");
  } else {checkText(
      caller.instructions,
      "caller.instructions",
      "say who the caller is and what they want",
      report,
    );}
  let model = context.defaultModel;
  if (caller.model !== undefined) {
    if (typeof caller.model !== "string") report("caller.model", `${describe(caller.model)} is not a string`);
    else {
      const problem = modelProblem(caller.model);
      if (problem !== undefined) report("caller.model", problem);
      else model = caller.model;
    }
  }
  if (caller.voice !== undefined) {
    const problem = typeof caller.voice === "string"
      ? voiceProblem(caller.voice, engineForModel(model))
      : `${describe(caller.voice)} is not a string`;
    if (problem !== undefined) report("caller.voice", problem);
  }
  if (caller.answeredBy !== undefined && !(ANSWERED_BY as readonly unknown[]).includes(caller.answeredBy)) {
    report(
      "caller.answeredBy",
      `${describe(caller.answeredBy)} is not what Twilio's answering-machine detection says; use one of ${
        ANSWERED_BY.join(", ")
      }`,
    );
  }
}

/** What `context` knows of persona `persona` (nothing for an unknown one: `persona` is reported). */
function personaFacts(persona: unknown, context: ScenarioContext): PersonaFacts {
  if (typeof persona !== "string" || !context.personaIds.includes(persona)) return {};
  return {
    id: persona,
    outcomeFields: context.personaOutcomeFields?.(persona),
    tools: context.personaTools?.(persona),
  };
}

function checkExpect(
  expect: unknown,
  persona: PersonaFacts,
  report: (f: string, d: string) => void,
): void {
  if (!Array.isArray(expect)) {
    report("expect", `${describe(expect)} is not a list; give a list of checks, e.g. [{ name, judge: "…" }]`);
    return;
  }
  if (expect.length === 0) report("expect", "empty; give at least one check");
  const names = new Set<string>();
  expect.forEach((check, index) => checkOneCheck(check, { at: `expect[${index}]`, persona }, names, report));
}

/** One check of `expect` at `at`: a unique name, one kind, no unknown field, and a good value. */
function checkOneCheck(
  check: unknown,
  place: { at: string; persona: PersonaFacts },
  names: Set<string>,
  report: (f: string, d: string) => void,
): void {
  const { at } = place;
  if (!isRecord(check)) {
    report(at, `${describe(check)} is not a check; give { name, <one of ${CHECK_KINDS.join(", ")}> }`);
    return;
  }
  if (typeof check.name !== "string" || check.name.trim() === "") {
    report(`${at}.name`, `${describe(check.name)} is not a name; name the check in a few words`);
  } else if (names.has(check.name)) report(`${at}.name`, `"${check.name}" names another check too`);
  else names.add(check.name);
  const kinds = CHECK_KINDS.filter((kind) => kind in check);
  const allowed = ["name", ...CHECK_KINDS, ...(kinds[0] === "toolCalled" ? ["withArguments"] : [])];
  for (const key of Object.keys(check)) {
    if (!allowed.includes(key)) report(`${at}.${key}`, unknownField(key, allowed));
  }
  if (kinds.length !== 1) {
    report(
      at,
      kinds.length === 0
        ? `says nothing to check; give one of ${CHECK_KINDS.join(", ")}`
        : `has ${kinds.join(" and ")}; give one kind of check each`,
    );
    return;
  }
  checkCheckValue(check, { ...place, kind: kinds[0]! }, report);
}

/** The value of a check's one kind (`expect[i].<kind>`). */
function checkCheckValue(
  check: Record<string, unknown>,
  where: { at: string; kind: typeof CHECK_KINDS[number]; persona: PersonaFacts },
  report: (f: string, d: string) => void,
): void {
  const { at, kind } = where;
  const field = `${at}.${kind}`;
  const value = check[kind];
  switch (kind) {
    case "endReason":
      checkEndReason(value, field, report);
      break;
    case "toolCalled":
    case "toolNotCalled":
      checkText(value, field, "name the tool", report);
      checkToolName(value, { field, kind, persona: where.persona.id, offered: where.persona.tools }, report);
      if (check.withArguments !== undefined) {
        checkValues(check.withArguments, `${at}.withArguments`, report);
      }
      break;
    case "maxTurns":
      checkNumber(
        value,
        field,
        { min: 1, max: 1000, integer: true },
        (f, d) => report(f, d.replace(" of milliseconds", "")),
      );
      break;
    case "p95LatencyMs":
      checkNumber(value, field, { min: 1, max: 60_000, integer: true }, report);
      break;
    case "maxDeadAirSeconds":
      checkNumber(value, field, { min: 0.1, max: 600, integer: false }, report);
      break;
    case "outcome": {
      checkValues(value, field, report);
      const fields = where.persona.outcomeFields;
      if (fields === undefined || !isRecord(value)) break;
      for (const name of Object.keys(value)) {
        if (!fields.includes(name)) {
          report(
            `${field}.${name}`,
            `not a field of the persona's analysis schema; its fields are ${fields.join(", ")}`,
          );
        }
      }
      break;
    }
    case "judge":
      checkText(
        value,
        field,
        'say in plain words what must hold, e.g. "the agent never named a price"',
        report,
      );
      if (typeof value !== "string") break;
      if (value.length > 500) report(field, `${value.length} characters; keep a criterion under 500`);
      break;
  }
}

/** An `endReason` check's value: an end reason, or a non-empty list of them. */
function checkEndReason(value: unknown, field: string, report: (f: string, d: string) => void): void {
  const reasons = Array.isArray(value) ? value : [value];
  if (reasons.length === 0) report(field, `empty list; give one or more of ${END_REASONS.join(", ")}`);
  for (const reason of reasons) {
    if (typeof reason !== "string" || !(END_REASONS as readonly string[]).includes(reason)) {
      report(field, `${describe(reason)} is not an end reason; use one of ${END_REASONS.join(", ")}`);
    }
  }
}

function checkValues(value: unknown, field: string, report: (f: string, d: string) => void): void {
  if (!isRecord(value) || Object.keys(value).length === 0) {
    report(field, `${describe(value)} is not an object of values; e.g. { day: "Tuesday" }`);
    return;
  }
  for (const [name, v] of Object.entries(value)) {
    if (!["string", "number", "boolean"].includes(typeof v)) {
      report(`${field}.${name}`, `${describe(v)} is not a string, number or true/false`);
    }
  }
}
