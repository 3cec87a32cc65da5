/**
 * Checks a persona file's default export and reports every problem at once, each line naming the
 * file and the field, so a user fixes all of them in one pass instead of one restart per mistake.
 *
 * Persona files are user code that may import nothing (so no `definePersona()` type check ran):
 * everything the {@linkcode Persona} type promises is checked here at runtime.
 *
 * @module
 */

import type { EngineDefinition } from "../engines/engine.ts";
import { ENGINE_REGISTRY, type EnginePersonaSettings, type EngineRegistry } from "../engines/registry.ts";
import {
  checkText,
  closest,
  describe,
  isRecord,
  type Report,
  unknownField as unknownFieldOf,
} from "../engines/settings_checks.ts";
import { TTS_ONLY_VOICES } from "../engines/voices.ts";
import type { Persona } from "./types.ts";
import { checkActions, isAsyncFunction } from "./validate_actions.ts";
import { checkAnalysis } from "./validate_analysis.ts";

/**
 * The outcome of {@linkcode validatePersona}: a persona and no problems, or no persona and the
 * problems that stop it loading.
 */
export type PersonaValidation =
  | { persona: Persona; problems: string[] }
  | { persona: undefined; problems: string[] };

// A mapped type so that adding a field to `Persona` without listing it here fails type-checking. The
// engines' own fields (`vad`, `reasoning`…) come from their definitions, through the registry.
const COMMON_FIELDS: { [K in Exclude<keyof Persona, keyof EnginePersonaSettings>]-?: true } = {
  voice: true,
  instructions: true,
  greeting: true,
  fallbackMessage: true,
  model: true,
  maxCallMinutes: true,
  description: true,
  prewarm: true,
  tools: true,
  endCall: true,
  doNotCall: true,
  transfer: true,
  transferFailedMessage: true,
  dtmf: true,
  keypad: true,
  voicemail: true,
  record: true,
  recordingDisclosure: true,
  analysis: true,
};

/**
 * Every top-level field a persona may set with `registry`'s engines: the common ones, then each
 * engine's. The validator refuses any other (`tests/readme_reference_test.ts` holds the README to it).
 */
export function personaFieldNames(registry: EngineRegistry): string[] {
  return [...Object.keys(COMMON_FIELDS), ...registry.settingFields()];
}

/** Names people bring from OpenAI's wire format or other tools, and the field they mean. */
const ALIASES: Readonly<Record<string, string>> = {
  turndetection: "vad",
  maxresponseoutputtokens: "maxOutputTokens",
  inputaudionoisereduction: "noiseReduction",
  prompt: "instructions",
  systemprompt: "instructions",
};

/** How to fix a `model` that is not a name: one example per engine. */
function modelFix(registry: EngineRegistry): string {
  return `name ${
    registry.definitions.map((engine) => `a ${engine.name} model, e.g. "${engine.exampleModel}"`).join(
      ", or ",
    )
  }, or remove the field`;
}

/**
 * Checks `value`, the default export of `file`, against the {@linkcode Persona} shape.
 *
 * Pure: it neither reads files nor throws. Each problem reads `<file>: <field>: <what is wrong>`,
 * with the fix after a semicolon where there is one. A valid persona comes back as a copy without
 * the fields set to `undefined`.
 *
 * @param value The module's default export (`undefined` when the file has none).
 * @param file The file as the user should see it, e.g. `personas/alex.ts`.
 * @param registry The engines whose models, voices and settings are allowed. @default ENGINE_REGISTRY
 * @param defaultModel The model a persona without `model` runs on (`OPENAI_REALTIME_MODEL`): such a
 * persona is checked against that model's engine, the one its calls use. @default the first engine's
 *
 * @example
 * ```ts
 * const { persona, problems } = validatePersona({ voice: "nova", instructions: "Hi" }, "personas/x.ts");
 * // persona === undefined
 * // problems[0] === 'personas/x.ts: voice: "nova" is a text-to-speech voice the Realtime API does not have; use one of …'
 * ```
 */
export function validatePersona(
  value: unknown,
  file: string,
  registry: EngineRegistry = ENGINE_REGISTRY,
  defaultModel?: string,
): PersonaValidation {
  const fieldNames = personaFieldNames(registry);
  const problems: string[] = [];
  const report = (field: string, detail: string) => problems.push(`${file}: ${field}: ${detail}`);

  if (value === undefined) {
    report(
      "default export",
      'missing; end the file with export default { voice: "marin", instructions: "…" } (or definePersona({ … }))',
    );
    return { persona: undefined, problems };
  }
  if (!isRecord(value)) {
    report(
      "default export",
      `${describe(value)} is not a persona object; export an object with voice and instructions`,
    );
    return { persona: undefined, problems };
  }

  checkFieldNames(value, fieldNames, report);

  // The model decides the engine; without one, the default model's does (as `planCall` chooses), and
  // without a default model, the first engine's.
  const named = typeof value.model === "string" && value.model.trim() !== "" ? value.model : undefined;
  const model = named ?? defaultModel;
  const engine = (model === undefined ? undefined : registry.findForModel(model)) ?? registry.definitions[0]!;
  const decidedBy = named === undefined && model !== undefined
    ? "the persona names no model, so OPENAI_REALTIME_MODEL decides the engine"
    : "the persona's model decides the engine";
  checkVoice(value.voice, engine, registry, decidedBy, report);
  checkInstructions(value.instructions, engine, report);
  if (named !== undefined) engine.personaRules.checkServed(value, named, report);
  else if (model !== undefined && registry.findForModel(model) !== undefined) {
    engine.personaRules.checkServed(value, `${model} from OPENAI_REALTIME_MODEL`, report);
  }
  checkText(
    value.greeting,
    "greeting",
    "write the instruction for the first response, or remove the field",
    report,
  );
  checkRecording(value, report);
  checkText(value.fallbackMessage, "fallbackMessage", "write what Twilio says, or remove the field", report);
  checkText(value.model, "model", modelFix(registry), report);
  const unserved = named === undefined ? undefined : registry.modelProblem(named);
  if (unserved !== undefined) report("model", unserved);
  checkMaxCallMinutes(value.maxCallMinutes, report);
  checkText(value.description, "description", "write one line, or remove the field", report);
  for (const definition of registry.definitions) definition.personaRules.checkSettings(value, report);
  checkActions(value, report);
  checkAnalysis(value, report);
  checkPrewarm(value.prewarm, report);

  if (problems.length > 0) return { persona: undefined, problems };
  return { persona: copyPersona(value, fieldNames), problems: [] };
}

/** Reports every field no engine knows (`temperature` with why it is gone), with the closest known name. */
function checkFieldNames(
  value: Record<string, unknown>,
  fieldNames: readonly string[],
  report: Report,
): void {
  for (const key of Object.keys(value)) {
    if (fieldNames.includes(key)) continue;
    if (key === "temperature") {
      report(key, "the GA Realtime API has no temperature; remove it");
    } else {
      report(key, unknownField(key, fieldNames));
    }
  }
}

function checkPrewarm(prewarm: unknown, report: Report): void {
  if (prewarm !== undefined && typeof prewarm !== "boolean") {
    report("prewarm", `${describe(prewarm)} is not true or false; write prewarm: false to turn pre-warm off`);
  }
}

function checkVoice(
  voice: unknown,
  engine: EngineDefinition<string, object>,
  registry: EngineRegistry,
  decidedBy: string,
  report: Report,
): void {
  const voices = engine.voices;
  const list = voices.join(", ");
  if (voice === undefined) {
    report("voice", `missing; use one of ${list}`);
  } else if (typeof voice !== "string") {
    report("voice", `${describe(voice)} is not a voice name; use one of ${list}`);
  } else if ((TTS_ONLY_VOICES as readonly string[]).includes(voice)) {
    report(
      "voice",
      `"${voice}" is a text-to-speech voice ${engine.apiName} does not have; use one of ${list}`,
    );
  } else if (!voices.includes(voice)) {
    // Quoted and escaped, at most 40 characters: the file's own text reaches the terminal.
    const shown = describe(voice.length > 40 ? `${voice.slice(0, 40)}…` : voice);
    const guess = closest(voice, voices);
    const hint = guess === undefined ? "" : ` (did you mean "${guess}"?)`;
    const other = registry.definitions.find((e) => e.id !== engine.id && e.voices.includes(voice));
    const elsewhere = other !== undefined ? ` (it is a ${other.name} voice; ${decidedBy})` : hint;
    report("voice", `${shown} is not a ${engine.name} voice${elsewhere}; use one of ${list}`);
  }
}

function checkInstructions(
  instructions: unknown,
  engine: EngineDefinition<string, object>,
  report: Report,
): void {
  if (instructions === undefined) {
    report(
      "instructions",
      "missing; write the agent's script (a string, or a function of the call returning one)",
    );
  } else if (typeof instructions === "function") {
    // An async function would hand the session a Promise; the script must be ready when the call starts.
    if (isAsyncFunction(instructions)) {
      report("instructions", "an async function is not supported; return the string directly");
    }
  } else if (typeof instructions !== "string") {
    report("instructions", `${describe(instructions)} is not a string or a function returning one`);
  } else if (instructions.trim() === "") {
    report("instructions", "empty; write the agent's script");
  } else {
    const problem = engine.personaRules.instructionsProblem(instructions);
    if (problem !== undefined) report("instructions", problem);
  }
}

/** `record` is a boolean; `recordingDisclosure` a line said in a greeting of a recorded call. */
function checkRecording(value: Record<string, unknown>, report: Report): void {
  if (value.record !== undefined && typeof value.record !== "boolean") {
    report("record", `${describe(value.record)} is not true or false; use record: true to record calls`);
  }
  const disclosure = value.recordingDisclosure;
  if (disclosure === undefined) return;
  if (typeof disclosure !== "string" || disclosure.trim() === "") {
    report("recordingDisclosure", `${describe(disclosure)} is not a line of text; write what the agent says`);
  } else if (value.record !== true) {
    report("recordingDisclosure", "is set but record is not true; add record: true, or remove the line");
  } else if (value.greeting === undefined) {
    report("recordingDisclosure", "needs a greeting (the agent says it first); add a greeting");
  }
}

function checkMaxCallMinutes(value: unknown, report: Report): void {
  if (value === undefined) return;
  const fix = "use a number of minutes above 0 and at most 1440, or remove the field";
  if (typeof value !== "number" || !Number.isFinite(value)) {
    report("maxCallMinutes", `${describe(value)} is not a number; ${fix}`);
  } else if (value <= 0 || value > 1440) {
    report("maxCallMinutes", `${describe(value)} is out of range; ${fix}`);
  }
}

/** The detail for an unknown persona field, knowing the names people bring from other tools. */
function unknownField(key: string, known: readonly string[]): string {
  return unknownFieldOf(key, known, ALIASES);
}

/** Copies the known fields, leaving out those set to `undefined`, so later edits of the module's object do not leak in. */
function copyPersona(value: Record<string, unknown>, fieldNames: readonly string[]): Persona {
  const copy: Record<string, unknown> = {};
  for (const field of fieldNames) {
    const fieldValue = value[field];
    if (fieldValue === undefined) continue;
    copy[field] = isRecord(fieldValue) ? withoutUndefined(fieldValue) : fieldValue;
  }
  // Every field was checked above against the shape `Persona` describes.
  return copy as unknown as Persona;
}

function withoutUndefined(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}
