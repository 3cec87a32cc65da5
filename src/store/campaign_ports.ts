/**
 * The campaign ports: campaigns with their leads and attempts, and the do-not-call list, as async
 * interfaces, beside the other storage ports (`ports.ts`, which re-exports them). Kept apart because
 * only campaigns use them (the dialer, the campaigns API and page).
 *
 * @module
 */

import type {
  Campaign,
  CampaignAttempt,
  CampaignInput,
  CampaignLead,
  CampaignLeadInput,
  CampaignState,
  Disposition,
  DoNotCallEntry,
  LeadSettlement,
} from "./campaign.ts";

/**
 * Campaigns (`src/dialer/`): the campaign, one row per lead it calls (state, attempts, next try) and
 * one per attempt. Leads are **claimed** in the store, so several instances on one database never dial
 * one lead at once and a campaign's `maxConcurrent` holds across all of them. On Postgres
 * (`postgres/campaigns.ts`) the claim is one statement: `UPDATE campaign_leads SET state = 'dialing',
 * claimed_by = $instance WHERE id IN (SELECT id FROM campaign_leads WHERE campaign_id = $id AND state =
 * 'pending' AND next_try_at <= $now ORDER BY next_try_at, id LIMIT $room FOR UPDATE SKIP LOCKED)
 * RETURNING *`, where `$room` is `maxConcurrent` less the campaign's `dialing` rows counted in the same
 * transaction (after `SELECT … FROM campaigns WHERE id = $id FOR UPDATE`, which serialises claims of one
 * campaign).
 */
export interface Campaigns {
  /** Adds a campaign in `state` with its leads (skipped ones settled as such) in one transaction. */
  create(input: CampaignInput, leads: readonly CampaignLeadInput[], state: CampaignState): Promise<Campaign>;
  /** The campaign, or undefined for an unknown id. */
  get(id: number): Promise<Campaign | undefined>;
  /** Every campaign, newest first. */
  list(): Promise<Campaign[]>;
  /** Sets the state when the current one is in `from` (any, when omitted); the campaign as it is now. */
  setState(id: number, state: CampaignState, from?: readonly CampaignState[]): Promise<Campaign | undefined>;
  /** The campaign's leads, by id. */
  leads(id: number): Promise<CampaignLead[]>;
  /** The campaign's attempts, by id. */
  attempts(id: number): Promise<CampaignAttempt[]>;
  /**
   * Claims (state `dialing`, `claimed_by` = `instance`) up to `limit` pending leads due at `now`,
   * earliest first, never more than the campaign's `maxConcurrent` less the leads already dialing.
   */
  claim(campaignId: number, now: number, limit: number, instance: string): Promise<CampaignLead[]>;
  /**
   * Before a call request goes to Twilio: takes the campaign's next dial slot and notes the request on
   * the lead (`requestedAt` = `at`), in one transaction. The slots are the campaign's `callsPerSecond`
   * pace kept in the store (`next_dial_at`, a burst of at most `callsPerSecond`), so it holds for every
   * instance at once. False (nothing changed) when no slot is free at `at`.
   */
  beginDial(campaignLeadId: number, at: number): Promise<boolean>;
  /**
   * Opens the next attempt of a claimed lead (its attempt count goes up) with the CallSid Twilio gave,
   * if known, and clears the lead's `requestedAt`, in one transaction.
   */
  startAttempt(campaignLeadId: number, at: number, callSid?: string): Promise<CampaignAttempt>;
  /** Notes the CallSid Twilio returned for an attempt. */
  setAttemptCall(attemptId: number, callSid: string): Promise<void>;
  /** The attempt that placed `callSid`, if any. */
  attemptByCallSid(callSid: string): Promise<CampaignAttempt | undefined>;
  /** Attempts not ended whose lead `instance` claimed (what a restart picks up). */
  openAttempts(instance: string): Promise<CampaignAttempt[]>;
  /**
   * What a restart of `instance` (or, on Postgres, the peer that found it dead) does with its claims:
   * leads it claimed with no open attempt go back to pending as they were (no attempt counted; one whose
   * request's answer was never noted keeps `requestedAt`, so Twilio is asked before it is dialled again).
   * Leads with an open attempt stay `dialing` (their final status settles them), handed to `heir` when
   * given. Resolves to how many went back.
   */
  releaseClaims(instance: string, heir?: string): Promise<number>;
  /**
   * Ends an open attempt with its disposition and settles its lead, in one transaction; false (and
   * nothing changed) when the attempt had already ended.
   */
  finishAttempt(
    attemptId: number,
    end: { at: number; disposition: Disposition; detail: string },
    settlement: LeadSettlement,
  ): Promise<boolean>;
  /** Settles a lead without an attempt: back to pending (a window, a backoff), or skipped. */
  settle(campaignLeadId: number, settlement: LeadSettlement): Promise<void>;
  /** The earliest `next_try_at` of the campaign's pending leads, or undefined when none is pending. */
  nextTryAt(campaignId: number): Promise<number | undefined>;
  /** Closes the campaigns. */
  close(): void;
}

/** The do-not-call list: numbers no campaign dials, checked at dial time. */
export interface DoNotCallList {
  /** Every entry, newest first. */
  list(): Promise<DoNotCallEntry[]>;
  /** True when `phone` (E.164) is on the list. */
  has(phone: string): Promise<boolean>;
  /** Adds the numbers (already there: kept as they were); resolves to how many were new. */
  add(phones: readonly string[], source: string, at: number): Promise<number>;
  /** True when the number was on the list. */
  remove(phone: string): Promise<boolean>;
}
