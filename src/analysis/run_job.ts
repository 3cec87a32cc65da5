/**
 * One claimed analysis, run and settled: the call's record is read, the Responses API asked, and the
 * answer recorded in the store: `done` with the outcome and its cost, a retry after a backoff (429,
 * 5xx, no answer: `retry-after` when the API gives one), or `failed` with the reason. Each settled
 * analysis is published on the bus as a `call.analyzed` event.
 *
 * Separate from the worker (`AnalysisWorker`, `worker.ts`), which decides when to claim
 * and how many at once: this is what happens to one analysis once claimed, and it holds no state of
 * its own. Every outcome waits for the store (a {@linkcode StoreRetry}): dropped, the claim's lease
 * would lapse and the analysis run (and be billed) again.
 *
 * @module
 */

import type { CallEvent } from "../calls/call_events.ts";
import type { PriceTable } from "../engines/price_table.ts";
import { responsesCost } from "../engines/responses_prices.ts";
import { escapeLogText, type Logger } from "../log.ts";
import type { AnalysisJob } from "../store/analysis_job.ts";
import type { AnalysisJobs, CallRecords, EventBus } from "../store/ports.ts";
import type { StoreRetry } from "../store/store_retry.ts";
import { type ResponsesEndpoint, tryAnalysis } from "./client.ts";
import { buildAnalysisRequest } from "./request.ts";

/** Tries before an analysis that keeps meeting 429, 5xx or no answer is failed for good. */
export const MAX_ANALYSIS_ATTEMPTS = 8;

/** What {@linkcode runAnalysisJob} runs with: the worker's collaborators and its state. */
export interface AnalysisRunContext {
  jobs: AnalysisJobs;
  calls: Pick<CallRecords, "getCall">;
  /** Where `call.analyzed` goes. */
  bus: Pick<EventBus, "publish">;
  endpoint: ResponsesEndpoint;
  prices: PriceTable;
  log: Logger;
  /** First backoff after a retryable failure without `retry-after`, doubled each try, ms. @default 2000 */
  backoffMs?: number;
  /** Longest backoff, ms. @default 600000 */
  maxBackoffMs?: number;
  now: () => number;
  /**
   * Aborted when the worker stops: the request under way ends at once, and a retryable result is not
   * recorded (the claim goes back at the next start).
   */
  signal: AbortSignal;
  /** Where each outcome waits until the store takes it. */
  outcomes: StoreRetry;
}

/**
 * Runs the claimed analysis `job` and records how it settled (once the store takes it); a settled
 * one is published as `call.analyzed`.
 */
export async function runAnalysisJob(job: AnalysisJob, context: AnalysisRunContext): Promise<void> {
  const { jobs, log } = context;
  const record = await context.calls.getCall(job.callSid);
  if (record === undefined) {
    await settleFailed(job, "the call's record is gone", context);
    return;
  }
  const request = buildAnalysisRequest(job.spec, record);
  const result = await tryAnalysis({ ...context.endpoint, signal: context.signal }, request);
  if (context.signal.aborted && result.kind === "retry") return; // put back at the next start
  const at = context.now();
  if (result.kind === "done") {
    const costUsd = responsesCost(result.model, result.usage, context.prices);
    const { outcome, usage, model } = result;
    await context.outcomes.submit({
      what: `the outcome of ${job.callSid}`,
      run: async () => {
        await jobs.succeed(job.callSid, { at, outcome, usage, costUsd });
        log.info(
          `Analysis done: CallSid=${job.callSid} model=${model} tokens=${usage.inputTokens}+${usage.outputTokens} cost=${
            costUsd === null ? "unpriced" : `$${costUsd.toFixed(5)}`
          }`,
        );
        publish(context, {
          type: "call.analyzed",
          at,
          callSid: job.callSid,
          state: "done",
          outcome,
          error: null,
          costUsd,
        });
      },
    });
  } else if (result.kind === "retry" && job.attempts < MAX_ANALYSIS_ATTEMPTS) {
    const backoff = Math.min(
      (context.backoffMs ?? 2_000) * 2 ** (job.attempts - 1),
      context.maxBackoffMs ?? 600_000,
    );
    const wait = result.retryAfterMs !== undefined && result.retryAfterMs <= 600_000
      ? result.retryAfterMs
      : backoff;
    // Not written, the analysis would stay claimed until its lease lapses: it waits for the store.
    await context.outcomes.submit({
      what: `the next try of ${job.callSid}`,
      run: async () => {
        await jobs.retry(job.callSid, at + wait, result.reason, at);
        log.warn(
          `Analysis try ${job.attempts} of ${MAX_ANALYSIS_ATTEMPTS} failed for CallSid=${job.callSid}: ${
            escapeLogText(result.reason)
          }; next try in ${Math.round(wait)} ms`,
        );
      },
    });
  } else {
    const reason = result.kind === "retry" ? `${result.reason} (after ${job.attempts} tries)` : result.reason;
    await settleFailed(job, reason, context);
  }
}

/** Records `job` as failed for good (once the store takes it) and publishes it. */
async function settleFailed(job: AnalysisJob, reason: string, context: AnalysisRunContext): Promise<void> {
  const at = context.now();
  await context.outcomes.submit({
    what: `the failure of ${job.callSid}`,
    run: async () => {
      await context.jobs.fail(job.callSid, reason, at);
      context.log.error(`Analysis failed: CallSid=${job.callSid}: ${escapeLogText(reason)}`);
      publish(context, {
        type: "call.analyzed",
        at,
        callSid: job.callSid,
        state: "failed",
        outcome: null,
        error: reason,
        costUsd: null,
      });
    },
  });
}

/** The hook for the webhook outbox (issue 20 §3): `call.analyzed` on the bus. */
function publish(context: AnalysisRunContext, event: CallEvent): void {
  context.bus.publish(event);
}
