/**
 * What a scenario file (`scenarios/*.ts`) exports: a simulated caller for one persona, the checks a
 * run must pass, and how many runs make a rehearsal. See the README's "Rehearsals" section.
 *
 * @module
 */

import type { EndReason } from "../calls/call_events.ts";

/**
 * What Twilio's answering-machine detection posts as `AnsweredBy` (the asynchronous AMD callback):
 * `machine_end_*` come once the machine's greeting has ended (`DetectMessageEnd`), the others early.
 */
export const ANSWERED_BY = [
  "human",
  "machine_start",
  "machine_end_beep",
  "machine_end_silence",
  "machine_end_other",
  "fax",
  "unknown",
] as const;

/** One of {@linkcode ANSWERED_BY}. */
export type AnsweredBy = typeof ANSWERED_BY[number];

/** The simulated person on the phone: a second OpenAI session (Realtime or GPT-Live). */
export interface ScenarioCaller {
  /** Who they are and what they want, in plain words (the caller session's instructions). */
  instructions: string;
  /** The caller's voice. @default the caller model's engine's `callerVoice` (cedar on Realtime, alloy on GPT-Live) */
  voice?: string;
  /** The caller's model, either engine's. @default OPENAI_REALTIME_MODEL */
  model?: string;
  /**
   * What Twilio's answering-machine detection says about this caller: the virtual phone posts the
   * signed AMD callback (`AnsweredBy`) as Twilio would, right after the stream starts, or once the
   * caller's greeting has ended for `machine_end_*`. @default none (no detection, as a call without it)
   */
  answeredBy?: AnsweredBy;
}

/** A check on facts Parley records: exactly one of the kind fields besides `name`. */
export type ScenarioCheck =
  /** The call ended for one of these reasons. */
  | { name: string; endReason: EndReason | EndReason[] }
  /** The agent called this tool; with `withArguments`, at least once with arguments containing these values. */
  | { name: string; toolCalled: string; withArguments?: Record<string, string | number | boolean> }
  /** The agent never called this tool. */
  | { name: string; toolNotCalled: string }
  /** The agent spoke at most this many turns. */
  | { name: string; maxTurns: number }
  /** The 95th percentile of the agent's turn latency (heard) is at most this, ms. */
  | { name: string; p95LatencyMs: number }
  /** Nobody spoke for at most this long, seconds (measured by the virtual phone). */
  | { name: string; maxDeadAirSeconds: number }
  /** Post-call analysis says these values (skipped while the persona has no analysis). */
  | { name: string; outcome: Record<string, string | number | boolean> }
  /** A judge model reads the transcript and says whether this sentence holds. */
  | { name: string; judge: string };

/** A scenario: the default export of a file in `scenarios/`. */
export interface Scenario {
  /** The persona rehearsed (a file name in PERSONAS_DIR, without `.ts`). */
  persona: string;
  /** What the scenario is about (shown in the report). */
  description?: string;
  /** Call parameters, as the webhook URL of a phone call carries them. */
  parameters?: Record<string, string>;
  /** The agent's voice for these calls (the `voice` call parameter). */
  voice?: string;
  /** The simulated caller. */
  caller: ScenarioCaller;
  /** The checks; a run passes when every check passes (skipped ones do not count). */
  expect: ScenarioCheck[];
  /** Calls per rehearsal, 1 to 20. @default 3 */
  runs?: number;
  /** Runs that must pass, 0 to 1 (e.g. 0.66 for 2 of 3). @default 1 (every run) */
  minPassRate?: number;
  /** A run is hung up after this many minutes, 0.1 to 30. @default 3 */
  maxMinutes?: number;
}

/** A scenario loaded from a file. */
export interface LoadedScenario {
  /** The file name without `.ts`. */
  id: string;
  /** The path as shown in messages. */
  file: string;
  scenario: Scenario;
}

/** Defaults of the optional fields. */
export const SCENARIO_DEFAULTS = { runs: 3, minPassRate: 1, maxMinutes: 3 } as const;
