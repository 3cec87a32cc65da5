/**
 * GPT-Live's persona rules: it has no settings of its own, refuses the Realtime API's (the model
 * owns turn-taking), and takes instructions up to {@linkcode MAX_INSTRUCTIONS_TOKENS}.
 *
 * @module
 */

import type { PersonaRules } from "../engine.ts";
import type { RealtimePersonaSettings } from "../realtime/settings.ts";
import { estimateTokens, MAX_INSTRUCTIONS_TOKENS } from "./session.ts";

/** Persona fields that mean nothing to GPT-Live, and why. */
const NOT_ON_LIVE: Readonly<Record<keyof RealtimePersonaSettings, string>> = {
  vad: "the model owns turn-taking",
  interruptions: "the model owns turn-taking and barge-in",
  reasoning: "GPT-Live has no reasoning setting",
  maxOutputTokens: "GPT-Live has no output token limit setting",
  transcriptionModel: "GPT-Live transcribes with its own model",
  noiseReduction: "GPT-Live has no noise reduction setting",
};

/**
 * The problem with instructions over GPT-Live's limit (estimated at ~4 characters a token), or
 * undefined when they fit.
 */
export function liveInstructionsProblem(instructions: string): string | undefined {
  const tokens = estimateTokens(instructions);
  return tokens > MAX_INSTRUCTIONS_TOKENS
    ? `about ${tokens} tokens, over GPT-Live's limit of ${MAX_INSTRUCTIONS_TOKENS} ` +
      "(fixed when the session starts); shorten the script"
    : undefined;
}

/** GPT-Live's persona rules. */
export const LIVE_PERSONA_RULES: PersonaRules = {
  checkSettings: () => {},
  checkServed(persona, model, report) {
    for (const [field, why] of Object.entries(NOT_ON_LIVE)) {
      if (persona[field] !== undefined) {
        report(field, `means nothing on GPT-Live (${model}): ${why}; remove it, or use a gpt-realtime model`);
      }
    }
  },
  instructionsProblem: liveInstructionsProblem,
};
