/**
 * What a campaign is made of, whichever adapter keeps it: the campaign, its leads (one row per lead
 * it calls, with the lead's state, attempts and next try) and its attempts (one row per call).
 *
 * @module
 */

/** A campaign's state. `waiting`: running, but no lead is inside its calling window now. */
export type CampaignState = "draft" | "running" | "paused" | "waiting" | "finished" | "stopped";

/** How a campaign lead's call ended, from Twilio's final status and Parley's end reason. */
export type Disposition =
  | "completed"
  | "no-answer"
  | "busy"
  | "failed"
  | "voicemail_left"
  | "do_not_call";

/** Every disposition, in the order the API lists counts. */
export const DISPOSITIONS: readonly Disposition[] = [
  "completed",
  "no-answer",
  "busy",
  "failed",
  "voicemail_left",
  "do_not_call",
];

/** Why a lead was not called. */
export type SkipReason = "bad_number" | "do_not_call" | "duplicate" | "stopped";

/** Days of a calling window. */
export type Weekday = "mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun";

/** When a campaign may call: local times `start`–`end` (`HH:MM`, end exclusive) on `days`, in `timezone`. */
export interface CallingWindow {
  /** IANA time zone; a lead's own `timezone` wins. */
  timezone: string;
  days: Weekday[];
  start: string;
  end: string;
}

/** Retrying one outcome: after `after` minutes, at most `max` more times. */
export interface RetryRule {
  after: number;
  max: number;
}

/** A campaign's settings, as validated from `POST /api/campaigns`. */
export interface CampaignInput {
  name: string;
  persona: string;
  voice: string | undefined;
  parameters: Record<string, string>;
  window: CallingWindow;
  maxConcurrent: number;
  callsPerSecond: number;
  /** By disposition: every one present (defaults filled in). */
  retry: Record<Disposition, RetryRule>;
  machineDetection: boolean;
}

/** A stored campaign. */
export interface Campaign extends CampaignInput {
  id: number;
  state: CampaignState;
  createdAt: number;
  updatedAt: number;
}

/** A lead a campaign calls, as it is created. */
export interface CampaignLeadInput {
  /** The lead's id, or null for a lead that came from the campaign's CSV without being kept. */
  leadId: number | null;
  name: string;
  phone: string;
  /** The lead's own IANA time zone, or null: the campaign's. */
  timezone: string | null;
  fields: Record<string, string>;
  /** Set for a lead skipped at creation. */
  skipReason?: SkipReason;
}

/** A campaign lead's state: waiting for a try, being dialled (claimed), or settled. */
export type CampaignLeadState = "pending" | "dialing" | "done" | "skipped";

/** A campaign lead as stored. */
export interface CampaignLead extends Omit<CampaignLeadInput, "skipReason"> {
  id: number;
  campaignId: number;
  state: CampaignLeadState;
  /** Attempts made (calls Twilio accepted or refused for good; a backed-off request is not one). */
  attempts: number;
  /** Epoch ms before which the lead is not tried. */
  nextTryAt: number;
  /** The last attempt's disposition; final once `state` is `done`. */
  disposition: Disposition | null;
  skipReason: SkipReason | null;
  /** The instance that claimed it (while `dialing`). */
  claimedBy: string | null;
  /**
   * Epoch ms: a call request for it went to Twilio then and its answer was never noted (a timeout, a
   * crash). Before it is dialled again Twilio is asked whether that call exists; null otherwise.
   */
  requestedAt: number | null;
}

/** One call of a campaign lead. */
export interface CampaignAttempt {
  id: number;
  campaignId: number;
  campaignLeadId: number;
  /** 1, 2, 3… per lead. */
  attempt: number;
  callSid: string | null;
  startedAt: number;
  endedAt: number | null;
  disposition: Disposition | null;
  /** Twilio's reason for a failure, e.g. `ErrorCode=32009`. */
  detail: string;
}

/** What becomes of a lead after an attempt or a skip. */
export type LeadSettlement =
  | {
    state: "pending";
    nextTryAt: number;
    disposition: Disposition | null;
    /** `null`: Twilio surely has no call of the last request (it refused it); else `requestedAt` is kept. */
    requestedAt?: null;
  }
  | { state: "done"; disposition: Disposition }
  | { state: "skipped"; skipReason: SkipReason };

/** A number on the do-not-call list. */
export interface DoNotCallEntry {
  phone: string;
  /** Where it came from: `api`, `csv`, `tool` (the persona's `do_not_call`). */
  source: string;
  addedAt: number;
}

/**
 * A `campaign_attempts` row as both stores read it (SQLite and Postgres share its column names and
 * types once read).
 */
export function campaignAttemptFromRow(row: Record<string, unknown>): CampaignAttempt {
  return {
    id: Number(row.id),
    campaignId: Number(row.campaign_id),
    campaignLeadId: Number(row.campaign_lead_id),
    attempt: Number(row.attempt),
    callSid: row.call_sid === null ? null : String(row.call_sid),
    startedAt: Number(row.started_at),
    endedAt: row.ended_at === null ? null : Number(row.ended_at),
    disposition: row.disposition === null ? null : String(row.disposition) as CampaignAttempt["disposition"],
    detail: String(row.detail),
  };
}
