/**
 * Joins each call record with its post-call analysis (`outcome`; the store added the analysis's cost
 * to the call's `costUsd` when it settled), and the CSV export of calls with their outcomes:
 * `GET /api/calls.csv` (same filters as `GET /api/calls`), one column per top-level field of the
 * outcomes listed.
 *
 * @module
 */

import type { CallEvent } from "../calls/call_events.ts";
import type { AnalysisJob } from "../store/analysis_job.ts";
import type { CallSummary as StoredSummary } from "../store/call_record.ts";
import type { AnalysisJobs } from "../store/ports.ts";
import { csvCell } from "./csv.ts";
import type { CallOutcome } from "./types.ts";

/** The analyses the call routes read. */
export type OutcomeSource = Pick<AnalysisJobs, "get" | "getMany">;

/** The outcome view of a stored analysis. */
export function outcomeOf(job: AnalysisJob | undefined): CallOutcome | null {
  if (job === undefined) return null;
  return {
    state: job.state,
    result: job.outcome,
    error: job.error,
    attempts: job.attempts,
    model: job.spec.model,
    costUsd: job.costUsd,
    updatedAt: job.updatedAt,
  };
}

/** The `call.analyzed` event of a settled analysis, as the worker published it; else undefined. */
export function analyzedEventOf(job: AnalysisJob | undefined): CallEvent | undefined {
  if (job === undefined || (job.state !== "done" && job.state !== "failed")) return undefined;
  const done = job.state === "done";
  return {
    type: "call.analyzed",
    at: job.updatedAt,
    callSid: job.callSid,
    state: job.state,
    outcome: done ? job.outcome : null,
    error: done ? null : job.error,
    costUsd: done ? job.costUsd : null,
  };
}

/** `record` with its `outcome` (the analysis's cost is in the stored `costUsd` already). */
export function withOutcome<T extends StoredSummary>(
  record: T,
  job: AnalysisJob | undefined,
): T & { outcome: CallOutcome | null } {
  return { ...record, outcome: outcomeOf(job) };
}

/** Adds the outcomes of `records` (read in one go). */
export async function withOutcomes<T extends StoredSummary>(
  records: T[],
  analyses: OutcomeSource | undefined,
): Promise<(T & { outcome: CallOutcome | null })[]> {
  const jobs = analyses === undefined
    ? new Map<string, AnalysisJob>()
    : await analyses.getMany(records.map((record) => record.callSid));
  return records.map((record) => withOutcome(record, jobs.get(record.callSid)));
}

const FIXED_COLUMNS = [
  "call_sid",
  "created_at",
  "persona",
  "direction",
  "from",
  "to",
  "status",
  "duration_s",
  "end_reason",
  "cost_usd",
  "outcome_state",
  "outcome_error",
];

/** The CSV of `calls`: fixed columns, then `outcome.<field>` for each outcome field seen. */
export function callsCsv(calls: readonly (StoredSummary & { outcome: CallOutcome | null })[]): string {
  const fields: string[] = [];
  for (const call of calls) {
    for (const field of Object.keys(call.outcome?.result ?? {})) {
      if (!fields.includes(field)) fields.push(field);
    }
  }
  const rows = [[...FIXED_COLUMNS, ...fields.map((field) => `outcome.${field}`)]];
  for (const call of calls) {
    rows.push([
      call.callSid,
      new Date(call.createdAt).toISOString(),
      call.persona ?? "",
      call.direction ?? "",
      call.from ?? "",
      call.to ?? "",
      call.status ?? "",
      call.durationMs === null ? "" : (call.durationMs / 1000).toFixed(1),
      call.endReason ?? "",
      call.costUsd === null ? "" : call.costUsd.toFixed(6),
      call.outcome?.state ?? "",
      call.outcome?.state === "failed" ? call.outcome.error ?? "" : "",
      ...fields.map((field) => outcomeCell(call.outcome?.result?.[field])),
    ]);
  }
  return rows.map((cells) => cells.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

/** An outcome field's value as one CSV cell: text as is, null or missing empty, anything else as JSON. */
export function outcomeCell(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}
