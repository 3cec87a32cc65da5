/**
 * The JSON of rehearsals: the events of `POST /api/personas/:id/rehearse`. Part of the API's types (`../types.ts`, which the pages import); imports
 * nothing outside them.
 *
 * @module
 */

/** One check of a rehearsal run, as `POST /api/personas/:id/rehearse` reports it. */
export interface RehearsalCheck {
  name: string;
  /** `passed`, `failed` or `skipped`. */
  status: string;
  /** Why, in plain words. */
  reason: string;
}

/** One rehearsal run (one call): the `run` event of `POST /api/personas/:id/rehearse`. */
export interface RehearsalRun {
  /** The scenario's id (its file name). */
  scenario: string;
  /** From 1. */
  run: number;
  /** Absent when the call never got one (the webhook refused it). */
  callSid?: string | undefined;
  /** The call's page. */
  callUrl?: string | undefined;
  passed: boolean;
  checks: RehearsalCheck[];
  /** Turn latencies (heard, else sent), ms. */
  latenciesMs: number[];
  /**
   * USD of the agent's call, the caller session and the judge, as far as the run got (a refused call
   * costs its caller session only); null when a model has no price.
   */
  costUsd: number | null;
}

/** One scenario's summary in the `done` event. */
export interface RehearsalScenarioSummary {
  scenario: string;
  persona: string;
  runs: number;
  passedRuns: number;
  minPassRate: number;
  /** The pass rate reached `minPassRate`. */
  passed: boolean;
  /** Turn latency percentiles over every run's turns, ms; null without turns. */
  latency: { p50Ms: number; p95Ms: number } | null;
  costUsd: number | null;
  /** The runs that failed. */
  failures: RehearsalRun[];
  /** Checks skipped in some run, with why. */
  skipped: { name: string; reason: string }[];
}

/**
 * The server-sent events of `POST /api/personas/:id/rehearse`, by event name: `start` once, a `run`
 * per finished call, then `done`; or `problem` when nothing could run.
 */
export interface RehearseEvents {
  start: { scenarios: { id: string; description: string; runs: number }[] };
  run: RehearsalRun;
  done: { scenarios: RehearsalScenarioSummary[]; passed: boolean; costUsd: number | null };
  problem: { message: string };
}
