/**
 * A post-call analysis as the store keeps it (`src/analysis/`): one row per call whose persona
 * declares `analysis`, with its state, attempts and next try, and, once done, the call's outcome.
 *
 * @module
 */

/** Where an analysis is: waiting for its (next) try, being run by an instance, or settled. */
export type AnalysisState = "pending" | "running" | "done" | "failed";

/** What an analysis asks: a snapshot of the persona's `analysis` taken when the call ended. */
export interface AnalysisSpec {
  /** The persona the call ran. */
  persona: string;
  /** The Responses model. */
  model: string;
  /** The persona's JSON schema of the outcome. */
  schema: Record<string, unknown>;
  /** The persona's own instructions for the analyst, if any. */
  instructions: string | null;
}

/** The tokens the analysis used, as the Responses API reports them. */
export interface AnalysisUsage {
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
}

/** One call's analysis. */
export interface AnalysisJob {
  callSid: string;
  state: AnalysisState;
  /** Tries started so far. */
  attempts: number;
  /** When a pending analysis is next tried, epoch ms. */
  nextTryAt: number;
  spec: AnalysisSpec;
  createdAt: number;
  updatedAt: number;
  /** The last try's failure (a retry's reason, or the final one when `failed`). */
  error: string | null;
  /** The outcome, fitting `spec.schema`, once `done`. */
  outcome: Record<string, unknown> | null;
  usage: AnalysisUsage | null;
  /** The analysis's own cost, USD; null when done with a model the price table lacks, or not done. */
  costUsd: number | null;
}

/** What a successful try leaves. */
export interface AnalysisSuccess {
  at: number;
  outcome: Record<string, unknown>;
  usage: AnalysisUsage;
  costUsd: number | null;
}
