/**
 * The end of a campaign's attempts: each call's final Twilio status finds its attempt (by CallSid, or
 * by the attempt its status callback URL names), takes its disposition from how the call ended
 * (`call_ends.ts`), and settles the lead under the retry policy in one store transaction. A final
 * status that comes before its attempt has its CallSid noted is kept a moment, until it is. Attempts
 * with no final status for too long are ended as `failed`.
 *
 * @module
 */

import { type CallEvent, type CallStatus, FINAL_CALL_STATUSES } from "../calls/call_events.ts";
import type { Logger } from "../log.ts";
import type { Campaign, Disposition, LeadSettlement } from "../store/campaign.ts";
import type { CallRecords, Campaigns, DoNotCallList } from "../store/ports.ts";
import { CallEnds } from "./call_ends.ts";
import { dispositionOf, settlementAfter } from "./outcomes.ts";
import { errorText } from "../log.ts";
import { RecentMap } from "../recent.ts";
import { StoreRetry } from "../store/store_retry.ts";

/** A final status from Twilio. */
export type FinalStatus = CallEvent & { type: "call.status" };

/**
 * The most final statuses kept for an attempt not stored yet (its CallSid about to be noted, or its call
 * about to be adopted): the newest are kept, the oldest go.
 */
export const MAX_EARLY_STATUSES = 1_000;

/**
 * A final status whose callback URL names an attempt not stored yet is looked up again this often, ms,
 * for {@linkcode EARLY_RECHECK_FOR_MS}: with several instances it may have reached one that did not
 * place the call, before the one that did stored the attempt (which never hears it).
 */
export const EARLY_RECHECK_MS = 1_000;
/** How long such a status is looked up again, ms (then only the instance that placed it can use it). */
export const EARLY_RECHECK_FOR_MS = 60_000;

/** Options of {@linkcode AttemptEnds}. */
export interface AttemptEndsOptions {
  campaigns: Campaigns;
  doNotCall: DoNotCallList;
  records?: Pick<CallRecords, "getCall">;
  log: Logger;
  now: () => number;
  /** Told after an attempt ended (a slot is free). */
  onEnded: () => void;
  /** @default EARLY_RECHECK_MS */
  earlyRecheckMs?: number;
}

/** What becomes of a lead whose attempt number `attempts` ended with `disposition` at `at`. */
export function settlementFor(
  campaign: Campaign,
  disposition: Disposition,
  attempts: number,
  at: number,
): LeadSettlement {
  if (campaign.state === "stopped") return { state: "done", disposition };
  return settlementAfter(disposition, attempts, campaign.retry, at);
}

/** Ends attempts as their calls' final statuses come. */
export class AttemptEnds {
  readonly #o: AttemptEndsOptions;
  readonly #ends: CallEnds;
  /** Final statuses that came before their attempt was stored with its CallSid (the newest kept). */
  readonly #early = new RecentMap<string, FinalStatus>(MAX_EARLY_STATUSES);
  readonly #settling = new Set<Promise<void>>();
  /** Timers of the early statuses looked up again. */
  readonly #rechecks = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;
  // Twilio has its 204 and will not send the final status again: what the store refuses waits here.
  readonly #retry: StoreRetry;

  constructor(options: AttemptEndsOptions) {
    this.#o = options;
    this.#ends = new CallEnds({
      campaigns: options.campaigns,
      doNotCall: options.doNotCall,
      ...(options.records === undefined ? {} : { records: options.records }),
      log: options.log,
      now: options.now,
    });
    this.#retry = new StoreRetry({
      log: options.log,
      words: { subject: "Dialer", verb: "settle", done: "settled" },
    });
  }

  /** Hears a call event (the hub's): notes how calls end; a final status ends its attempt. */
  hear(event: CallEvent): void {
    const blocking = this.#ends.hear(event);
    if (blocking !== undefined) {
      this.#track(this.#retry.submit({ what: `the do-not-call request of ${event.callSid}`, run: blocking }));
    }
    if (event.type === "call.status" && FINAL_CALL_STATUSES.has(event.status)) {
      this.#track(
        this.#retry.submit({ what: `the final status of ${event.callSid}`, run: () => this.finish(event) }),
      );
    }
  }

  /** An attempt's CallSid was just noted: a final status that came before it ends it now. */
  async noted(callSid: string, twilioStatus?: string): Promise<void> {
    const early = this.#early.get(callSid);
    if (early !== undefined) {
      this.#early.delete(callSid);
      await this.finish(early);
    } else if (twilioStatus !== undefined && FINAL_CALL_STATUSES.has(twilioStatus as CallStatus)) {
      await this.finish({
        type: "call.status",
        at: this.#o.now(),
        callSid,
        status: twilioStatus as CallStatus,
        detail: `CallStatus=${twilioStatus}`,
      });
    }
  }

  /** Resolves once the calls' outcomes heard so far are settled in the store. */
  async settled(): Promise<void> {
    while (this.#settling.size > 0) await Promise.all([...this.#settling]);
  }

  /** Ends the attempt of `event`'s call with its disposition, and settles its lead. */
  async finish(event: FinalStatus): Promise<void> {
    const { campaigns } = this.#o;
    let attempt = await campaigns.attemptByCallSid(event.callSid);
    const ref = event.campaignAttempt;
    if (attempt === undefined && ref !== undefined) {
      // The callback URL names the attempt: its CallSid was not noted (yet, or ever: a restart).
      const named = (await campaigns.attempts(ref.campaignId)).find((a) =>
        a.campaignLeadId === ref.campaignLeadId && a.attempt === ref.attempt
      );
      if (named !== undefined && named.callSid === null) {
        await campaigns.setAttemptCall(named.id, event.callSid);
        attempt = { ...named, callSid: event.callSid };
      }
    }
    if (attempt === undefined) {
      // Maybe a campaign call whose attempt is not stored yet (being stored, or to be adopted on a later
      // pass), even with no attempt named (a callback URL of an older version): kept until it is, among
      // the newest. Most are no campaign's (inbound calls, calls placed through the API): they age out.
      this.#early.set(event.callSid, event);
      if (ref !== undefined) this.#recheckLater(event);
      return;
    }
    // Ended already (a repeated callback), or its campaign is gone: nothing more is asked of the call.
    const campaign = attempt.endedAt === null ? await campaigns.get(attempt.campaignId) : undefined;
    if (campaign === undefined) {
      this.#ends.forget(event.callSid);
      return;
    }
    const disposition = dispositionOf(await this.#ends.outcome(event.callSid, event.status, event.detail));
    const at = this.#o.now();
    await campaigns.finishAttempt(
      attempt.id,
      { at, disposition, detail: event.detail },
      settlementFor(campaign, disposition, attempt.attempt, at),
    );
    this.#ends.forget(event.callSid);
    this.#o.onEnded();
  }

  /** Ends `instance`'s attempts open for `staleMs` or more as `failed` (no final status came). */
  async sweepStale(instance: string, staleMs: number): Promise<void> {
    const { campaigns } = this.#o;
    const now = this.#o.now();
    for (const attempt of await campaigns.openAttempts(instance)) {
      if (now - attempt.startedAt < staleMs) continue;
      const campaign = await campaigns.get(attempt.campaignId);
      if (campaign === undefined) continue;
      await campaigns.finishAttempt(
        attempt.id,
        { at: now, disposition: "failed", detail: "No final status from Twilio" },
        settlementFor(campaign, "failed", attempt.attempt, now),
      );
    }
  }

  /** Runs `work` in the background, its failure logged; {@linkcode settled} waits for it. */
  #track(work: Promise<void>): void {
    const tracked = work.catch((error) => {
      this.#o.log.error(
        `Dialer: settling a call failed: ${errorText(error)}`,
      );
    }).finally(() => this.#settling.delete(tracked));
    this.#settling.add(tracked);
  }

  /**
   * Looks `event`'s attempt up again in a while (its callback URL names one: a campaign's call), as long
   * as it is still kept early here and came less than {@linkcode EARLY_RECHECK_FOR_MS} ago.
   */
  #recheckLater(event: FinalStatus): void {
    if (this.#closed || this.#o.now() - event.at >= EARLY_RECHECK_FOR_MS) return;
    const timer = setTimeout(() => {
      this.#rechecks.delete(timer);
      if (this.#closed || this.#early.get(event.callSid) !== event) return; // used here, or pushed out
      this.#early.delete(event.callSid);
      this.#track(
        this.#retry.submit({ what: `the final status of ${event.callSid}`, run: () => this.finish(event) }),
      );
    }, this.#o.earlyRecheckMs ?? EARLY_RECHECK_MS);
    this.#rechecks.add(timer);
  }

  /** Stops retrying what the store refused (logged by name: a restart's sweep ends those attempts). */
  close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#rechecks) clearTimeout(timer);
    this.#rechecks.clear();
    return this.#retry.close();
  }

  /** Tracks `noted` for a call placed now (the pass does not wait on it). */
  notedLater(callSid: string): void {
    if (this.#early.has(callSid)) this.#track(this.noted(callSid));
  }
}
