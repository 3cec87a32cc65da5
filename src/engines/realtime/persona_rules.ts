/**
 * The checks of the Realtime API's persona settings (`settings.ts`), each problem naming the field
 * and the fix.
 *
 * @module
 */

import type { PersonaRules } from "../engine.ts";
import {
  checkNumber,
  checkOneOf,
  checkText,
  describe,
  isRecord,
  type Report,
  unknownField,
} from "../settings_checks.ts";

const SERVER_VAD_FIELDS = ["type", "threshold", "prefixPaddingMs", "silenceDurationMs"] as const;
const SEMANTIC_VAD_FIELDS = ["type", "eagerness"] as const;
const EAGERNESS = ["low", "medium", "high", "auto"] as const;
const REASONING_EFFORTS = ["minimal", "low", "medium", "high"] as const;
const NOISE_REDUCTION = ["near_field", "far_field", "off"] as const;

/** The Realtime API's persona rules: its settings are checked whatever the engine; nothing else. */
export const REALTIME_PERSONA_RULES: PersonaRules = {
  checkSettings(persona, report) {
    checkVad(persona.vad, report);
    checkInterruptions(persona.interruptions, report);
    checkReasoning(persona.reasoning, report);
    checkMaxOutputTokens(persona.maxOutputTokens, report);
    checkText(
      persona.transcriptionModel,
      "transcriptionModel",
      "name a transcription model, or remove the field",
      report,
    );
    checkOneOf(persona.noiseReduction, "noiseReduction", NOISE_REDUCTION, report);
  },
  checkServed: () => {},
  instructionsProblem: () => undefined,
};

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
