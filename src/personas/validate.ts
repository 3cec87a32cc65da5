/**
 * Checks a persona file's default export and reports every problem at once, each line naming the
 * file and the field, so a user fixes all of them in one pass instead of one restart per mistake.
 *
 * Persona files are user code that may import nothing (so no `definePersona()` type check ran):
 * everything the {@linkcode Persona} type promises is checked here at runtime.
 *
 * @module
 */

import { estimateTokens, MAX_INSTRUCTIONS_TOKENS } from "../engines/live/session.ts";
import { engineForModel, type EngineId, TTS_ONLY_VOICES, voicesFor } from "../engines/voices.ts";
import type { Persona } from "./types.ts";
import { checkActions } from "./validate_actions.ts";

/**
 * The outcome of {@linkcode validatePersona}: a persona and no problems, or no persona and the
 * problems that stop it loading.
 */
export type PersonaValidation =
  | { persona: Persona; problems: string[] }
  | { persona: undefined; problems: string[] };

// A mapped type so that adding a field to `Persona` without listing it here fails type-checking.
const PERSONA_FIELDS: { [K in keyof Persona]-?: true } = {
  voice: true,
  instructions: true,
  greeting: true,
  vad: true,
  interruptions: true,
  fallbackMessage: true,
  model: true,
  reasoning: true,
  maxOutputTokens: true,
  maxCallMinutes: true,
  transcriptionModel: true,
  noiseReduction: true,
  description: true,
  prewarm: true,
  tools: true,
  endCall: true,
  transfer: true,
  transferFailedMessage: true,
  dtmf: true,
  keypad: true,
  voicemail: true,
};

const PERSONA_FIELD_NAMES: readonly (keyof Persona)[] = Object.keys(PERSONA_FIELDS) as (keyof Persona)[];

/** Names people bring from OpenAI's wire format or other tools, and the field they mean. */
const ALIASES: Readonly<Record<string, string>> = {
  turndetection: "vad",
  maxresponseoutputtokens: "maxOutputTokens",
  inputaudionoisereduction: "noiseReduction",
  prompt: "instructions",
  systemprompt: "instructions",
};

const SERVER_VAD_FIELDS = ["type", "threshold", "prefixPaddingMs", "silenceDurationMs"] as const;
const SEMANTIC_VAD_FIELDS = ["type", "eagerness"] as const;
const EAGERNESS = ["low", "medium", "high", "auto"] as const;
const REASONING_EFFORTS = ["minimal", "low", "medium", "high"] as const;
const NOISE_REDUCTION = ["near_field", "far_field", "off"] as const;

/** Persona fields that mean nothing to GPT-Live, and why. */
const NOT_ON_LIVE: Readonly<Partial<Record<keyof Persona, string>>> = {
  vad: "the model owns turn-taking",
  interruptions: "the model owns turn-taking and barge-in",
  reasoning: "GPT-Live has no reasoning setting",
  maxOutputTokens: "GPT-Live has no output token limit setting",
  transcriptionModel: "GPT-Live transcribes with its own model",
  noiseReduction: "GPT-Live has no noise reduction setting",
};

const ENGINE_NAMES: Record<EngineId, string> = { realtime: "Realtime", live: "GPT-Live" };

/**
 * Checks `value`, the default export of `file`, against the {@linkcode Persona} shape.
 *
 * Pure: it neither reads files nor throws. Each problem reads `<file>: <field>: <what is wrong>`,
 * with the fix after a semicolon where there is one. A valid persona comes back as a copy without
 * the fields set to `undefined`.
 *
 * @param value The module's default export (`undefined` when the file has none).
 * @param file The file as the user should see it, e.g. `personas/alex.ts`.
 *
 * @example
 * ```ts
 * const { persona, problems } = validatePersona({ voice: "nova", instructions: "Hi" }, "personas/x.ts");
 * // persona === undefined
 * // problems[0] === 'personas/x.ts: voice: "nova" is a text-to-speech voice the Realtime API does not have; use one of …'
 * ```
 */
export function validatePersona(value: unknown, file: string): PersonaValidation {
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

  for (const key of Object.keys(value)) {
    if (Object.hasOwn(PERSONA_FIELDS, key)) continue;
    if (key === "temperature") {
      report(key, "the GA Realtime API has no temperature; remove it");
    } else {
      report(key, unknownField(key, PERSONA_FIELD_NAMES));
    }
  }

  // The model decides the engine; without one, the default model is a Realtime model.
  const engine = typeof value.model === "string" ? engineForModel(value.model) : "realtime";
  checkVoice(value.voice, engine, report);
  checkInstructions(value.instructions, engine, report);
  if (engine === "live") checkNotOnLive(value, report);
  checkText(
    value.greeting,
    "greeting",
    "write the instruction for the first response, or remove the field",
    report,
  );
  checkVad(value.vad, report);
  checkInterruptions(value.interruptions, report);
  checkText(value.fallbackMessage, "fallbackMessage", "write what Twilio says, or remove the field", report);
  checkText(
    value.model,
    "model",
    'name a Realtime model, e.g. "gpt-realtime", or a GPT-Live model, e.g. "gpt-live-1.1", or remove the field',
    report,
  );
  checkReasoning(value.reasoning, report);
  checkMaxOutputTokens(value.maxOutputTokens, report);
  checkMaxCallMinutes(value.maxCallMinutes, report);
  checkText(
    value.transcriptionModel,
    "transcriptionModel",
    "name a transcription model, or remove the field",
    report,
  );
  checkOneOf(value.noiseReduction, "noiseReduction", NOISE_REDUCTION, report);
  checkText(value.description, "description", "write one line, or remove the field", report);
  checkActions(value, report);
  if (value.prewarm !== undefined && typeof value.prewarm !== "boolean") {
    report(
      "prewarm",
      `${describe(value.prewarm)} is not true or false; write prewarm: false to turn pre-warm off`,
    );
  }

  if (problems.length > 0) return { persona: undefined, problems };
  return { persona: copyPersona(value), problems: [] };
}

type Report = (field: string, detail: string) => void;

function checkVoice(voice: unknown, engine: EngineId, report: Report): void {
  const voices = voicesFor(engine);
  const list = voices.join(", ");
  const api = engine === "live" ? "GPT-Live" : "the Realtime API";
  if (voice === undefined) {
    report("voice", `missing; use one of ${list}`);
  } else if (typeof voice !== "string") {
    report("voice", `${describe(voice)} is not a voice name; use one of ${list}`);
  } else if ((TTS_ONLY_VOICES as readonly string[]).includes(voice)) {
    report("voice", `"${voice}" is a text-to-speech voice ${api} does not have; use one of ${list}`);
  } else if (!voices.includes(voice)) {
    const guess = closest(voice, voices);
    const hint = guess === undefined ? "" : ` (did you mean "${guess}"?)`;
    const other = engine === "live" ? "realtime" : "live";
    const elsewhere = voicesFor(other).includes(voice)
      ? ` (it is a ${ENGINE_NAMES[other]} voice; the persona's model decides the engine)`
      : hint;
    report("voice", `"${voice}" is not a ${ENGINE_NAMES[engine]} voice${elsewhere}; use one of ${list}`);
  }
}

function checkInstructions(instructions: unknown, engine: EngineId, report: Report): void {
  if (instructions === undefined) {
    report(
      "instructions",
      "missing; write the agent's script (a string, or a function of the call returning one)",
    );
  } else if (typeof instructions === "function") {
    // An async function would hand the session a Promise; the script must be ready when the call starts.
    if (instructions.constructor.name === "AsyncFunction") {
      report("instructions", "an async function is not supported; return the string directly");
    }
  } else if (typeof instructions !== "string") {
    report("instructions", `${describe(instructions)} is not a string or a function returning one`);
  } else if (instructions.trim() === "") {
    report("instructions", "empty; write the agent's script");
  } else if (engine === "live" && estimateTokens(instructions) > MAX_INSTRUCTIONS_TOKENS) {
    report("instructions", liveInstructionsTooLong(instructions));
  }
}

/**
 * The problem with instructions over GPT-Live's limit (estimated at ~4 characters a token), or
 * undefined when they fit.
 */
export function liveInstructionsProblem(instructions: string): string | undefined {
  return estimateTokens(instructions) > MAX_INSTRUCTIONS_TOKENS
    ? liveInstructionsTooLong(instructions)
    : undefined;
}

function liveInstructionsTooLong(instructions: string): string {
  return `about ${
    estimateTokens(instructions)
  } tokens, over GPT-Live's limit of ${MAX_INSTRUCTIONS_TOKENS} ` +
    "(fixed when the session starts); shorten the script";
}

function checkNotOnLive(value: Record<string, unknown>, report: Report): void {
  for (const [field, why] of Object.entries(NOT_ON_LIVE)) {
    if (value[field] !== undefined) {
      report(
        field,
        `means nothing on GPT-Live (${value.model}): ${why}; remove it, or use a gpt-realtime model`,
      );
    }
  }
}

function checkText(value: unknown, field: string, fix: string, report: Report): void {
  if (value === undefined) return;
  if (typeof value !== "string") report(field, `${describe(value)} is not a string; ${fix}`);
  else if (value.trim() === "") report(field, `empty; ${fix}`);
}

function checkVad(vad: unknown, report: Report): void {
  if (vad === undefined) return;
  if (!isRecord(vad)) {
    report(
      "vad",
      `${describe(vad)} is not an object; use { type: "server_vad", … } or { type: "semantic_vad", … }`,
    );
    return;
  }
  const type = vad.type;
  if (type === undefined) {
    report("vad.type", 'missing; use "server_vad" or "semantic_vad"');
  } else if (type !== "server_vad" && type !== "semantic_vad") {
    report("vad.type", `${describe(type)} is not "server_vad" or "semantic_vad"`);
  }

  for (const key of Object.keys(vad)) {
    const server = (SERVER_VAD_FIELDS as readonly string[]).includes(key);
    const semantic = (SEMANTIC_VAD_FIELDS as readonly string[]).includes(key);
    if (type === "server_vad" && semantic && !server) {
      report(`vad.${key}`, `only semantic_vad has ${key}; remove it or set type: "semantic_vad"`);
    } else if (type === "semantic_vad" && server && !semantic) {
      report(`vad.${key}`, `only server_vad has ${key}; remove it or set type: "server_vad"`);
    } else if (!server && !semantic) {
      const known = type === "semantic_vad"
        ? SEMANTIC_VAD_FIELDS
        : type === "server_vad"
        ? SERVER_VAD_FIELDS
        : [...SERVER_VAD_FIELDS, ...SEMANTIC_VAD_FIELDS.slice(1)];
      report(`vad.${key}`, unknownField(key, known));
    }
  }

  checkNumber(vad.threshold, "vad.threshold", { min: 0, max: 1, integer: false }, report);
  checkNumber(vad.prefixPaddingMs, "vad.prefixPaddingMs", { min: 0, max: 2000, integer: true }, report);
  checkNumber(vad.silenceDurationMs, "vad.silenceDurationMs", { min: 100, max: 5000, integer: true }, report);
  checkOneOf(vad.eagerness, "vad.eagerness", EAGERNESS, report);
}

function checkInterruptions(interruptions: unknown, report: Report): void {
  if (interruptions === undefined) return;
  if (!isRecord(interruptions)) {
    report("interruptions", `${describe(interruptions)} is not an object; use { minSpeechMs: 300 }`);
    return;
  }
  for (const key of Object.keys(interruptions)) {
    if (key !== "minSpeechMs") report(`interruptions.${key}`, unknownField(key, ["minSpeechMs"]));
  }
  checkNumber(
    interruptions.minSpeechMs,
    "interruptions.minSpeechMs",
    { min: 0, max: 2000, integer: true },
    report,
  );
}

function checkReasoning(reasoning: unknown, report: Report): void {
  if (reasoning === undefined) return;
  if (!isRecord(reasoning)) {
    report("reasoning", `${describe(reasoning)} is not an object; use { effort: "low" }`);
    return;
  }
  for (const key of Object.keys(reasoning)) {
    if (key !== "effort") report(`reasoning.${key}`, unknownField(key, ["effort"]));
  }
  if (reasoning.effort === undefined) {
    report("reasoning.effort", `missing; use one of ${REASONING_EFFORTS.join(", ")}`);
  } else {
    checkOneOf(reasoning.effort, "reasoning.effort", REASONING_EFFORTS, report);
  }
}

function checkMaxOutputTokens(value: unknown, report: Report): void {
  if (value === undefined || value === "inf") return;
  const fix = 'use an integer from 1 to 4096 or "inf"';
  if (typeof value !== "number") report("maxOutputTokens", `${describe(value)} is not a number; ${fix}`);
  else if (!Number.isInteger(value)) {
    report("maxOutputTokens", `${describe(value)} is not a whole number; ${fix}`);
  } else if (value < 1 || value > 4096) {
    report("maxOutputTokens", `${describe(value)} is out of range; ${fix}`);
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

interface NumberRange {
  min: number;
  max: number;
  /** Milliseconds: whole numbers only. */
  integer: boolean;
}

function checkNumber(value: unknown, field: string, range: NumberRange, report: Report): void {
  if (value === undefined) return;
  const fix = range.integer
    ? `use a whole number of milliseconds from ${range.min} to ${range.max}`
    : `use a number from ${range.min} to ${range.max}`;
  if (typeof value !== "number") report(field, `${describe(value)} is not a number; ${fix}`);
  else if (range.integer && !Number.isInteger(value)) {
    report(field, `${describe(value)} is not a whole number; ${fix}`);
  } else if (!(value >= range.min && value <= range.max)) {
    report(field, `${describe(value)} is out of range; ${fix}`);
  }
}

function checkOneOf(value: unknown, field: string, allowed: readonly string[], report: Report): void {
  if (value === undefined) return;
  if (typeof value === "string" && allowed.includes(value)) return;
  report(field, `${describe(value)} is not one of ${allowed.join(", ")}`);
}

/** The detail for an unknown field: a likely intended name, or the list of known ones. */
function unknownField(key: string, known: readonly string[]): string {
  const alias = ALIASES[normalize(key)];
  const guess = alias !== undefined && known.includes(alias) ? alias : closest(key, known);
  if (guess === undefined) return `unknown field; known fields are ${known.join(", ")}`;
  // `prefix_padding_ms` is right on the wire but not in a persona file.
  const camel = normalize(guess) === normalize(key) ? " (persona fields are camelCase)" : "";
  return `unknown field; did you mean "${guess}"?${camel}`;
}

/** The known name nearest to `name`, if it is near enough to be a typo. */
function closest(name: string, known: readonly string[]): string | undefined {
  const wanted = normalize(name);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(wanted, normalize(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const allowed = Math.max(1, Math.floor(wanted.length / 4));
  return bestDistance <= allowed ? best : undefined;
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/[_\-\s]/g, "");
}

/** Edit distance counting a swap of neighbours as one edit (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A value as it appears in a message: strings quoted, objects by kind. */
function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "undefined") {
    return String(value);
  }
  if (typeof value === "bigint") return `${value}n`;
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return "a symbol";
  return "an object";
}

/** Copies the known fields, leaving out those set to `undefined`, so later edits of the module's object do not leak in. */
function copyPersona(value: Record<string, unknown>): Persona {
  const copy: Record<string, unknown> = {};
  for (const field of PERSONA_FIELD_NAMES) {
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
