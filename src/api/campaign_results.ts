/**
 * A campaign's results:
 * - `GET /api/campaigns/:id/calls` (the page's results table): one row per attempt with its call's
 *   outcome (as `GET /api/calls/:sid` gives it), then the leads that were skipped, with the reason;
 * - `GET /api/campaigns/:id/results.csv`: one line per lead with its attempts, state, final
 *   disposition, skip reason, last CallSid and what ended that attempt (`last_detail`: Twilio's
 *   status and, for a failed call, its `ErrorCode` and `SipResponseCode`), then the outcome of that last call's post-call
 *   analysis as `GET /api/calls.csv` spells it: `outcome_state`, `outcome_error` and one
 *   `outcome.<field>` column per field of the outcomes in the file (empty where a call has none).
 *
 * @module
 */

import type { AnalysisJob } from "../store/analysis_job.ts";
import type { CampaignAttempt, CampaignLead } from "../store/campaign.ts";
import type { AnalysisJobs } from "../store/ports.ts";
import { outcomeCell, outcomeOf } from "./call_outcomes.ts";
import type { CampaignCall } from "./types.ts";
import { csvCell } from "./csv.ts";

/** The columns before the outcome's own fields. */
export const RESULTS_COLUMNS: readonly string[] = [
  "lead_id",
  "name",
  "phone",
  "attempts",
  "state",
  "disposition",
  "skipped",
  "last_call_sid",
  "last_detail",
  "outcome_state",
  "outcome_error",
];

/**
 * The CSV text (CRLF line ends) of a campaign's `leads` and `attempts`, with the analyses of their
 * last calls read from `analyses` (none when the store keeps no analyses).
 */
export async function campaignResultsCsv(
  leads: readonly CampaignLead[],
  attempts: readonly CampaignAttempt[],
  analyses: Pick<AnalysisJobs, "getMany"> | undefined,
): Promise<string> {
  const lastCall = new Map<number, string>();
  const lastDetail = new Map<number, string>();
  for (const attempt of attempts) {
    if (attempt.callSid !== null) lastCall.set(attempt.campaignLeadId, attempt.callSid);
    lastDetail.set(attempt.campaignLeadId, attempt.detail);
  }
  const jobs = analyses === undefined
    ? new Map<string, AnalysisJob>()
    : await analyses.getMany([...lastCall.values()]);
  const fields: string[] = [];
  for (const job of jobs.values()) {
    for (const field of Object.keys(job.outcome ?? {})) {
      if (!fields.includes(field)) fields.push(field);
    }
  }
  const lines = [[...RESULTS_COLUMNS, ...fields.map((field) => `outcome.${field}`)]];
  for (const lead of leads) {
    const callSid = lastCall.get(lead.id);
    const job = callSid === undefined ? undefined : jobs.get(callSid);
    lines.push([
      lead.leadId === null ? "" : String(lead.leadId),
      lead.name,
      lead.phone,
      String(lead.attempts),
      lead.state,
      lead.disposition ?? "",
      lead.skipReason ?? "",
      callSid ?? "",
      lastDetail.get(lead.id) ?? "",
      job?.state ?? "",
      job?.state === "failed" ? job.error ?? "" : "",
      ...fields.map((field) => outcomeCell(job?.outcome?.[field])),
    ]);
  }
  return lines.map((cells) => cells.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

/**
 * The rows of `GET /api/campaigns/:id/calls`: every attempt with its call's outcome (null while the
 * call has none, or when the store keeps no analyses), then each skipped lead with its reason.
 */
export async function campaignCallRows(
  leads: readonly CampaignLead[],
  attempts: readonly CampaignAttempt[],
  analyses: Pick<AnalysisJobs, "getMany"> | undefined,
): Promise<CampaignCall[]> {
  const byId = new Map(leads.map((lead) => [lead.id, lead]));
  const callSids = attempts.flatMap((attempt) => attempt.callSid === null ? [] : [attempt.callSid]);
  const jobs = analyses === undefined || callSids.length === 0
    ? new Map<string, AnalysisJob>()
    : await analyses.getMany(callSids);
  const calls: CampaignCall[] = attempts.map((attempt) => {
    const lead = byId.get(attempt.campaignLeadId)!;
    return {
      campaignLeadId: lead.id,
      leadId: lead.leadId,
      name: lead.name,
      phone: lead.phone,
      attempt: attempt.attempt,
      callSid: attempt.callSid,
      startedAt: attempt.startedAt,
      endedAt: attempt.endedAt,
      disposition: attempt.disposition,
      detail: attempt.detail,
      outcome: attempt.callSid === null ? null : outcomeOf(jobs.get(attempt.callSid)),
    };
  });
  const skipped: CampaignCall[] = leads.filter((lead) => lead.state === "skipped").map((lead) => ({
    campaignLeadId: lead.id,
    leadId: lead.leadId,
    name: lead.name,
    phone: lead.phone,
    attempt: 0,
    callSid: null,
    skipped: lead.skipReason,
  }));
  return [...calls, ...skipped];
}
