/**
 * The campaign dialer: claims due leads in the store (so instances share the work and a campaign's
 * `maxConcurrent` holds across them), checks the do-not-call list and the lead's calling window at
 * dial time, paces calls at the campaign's `callsPerSecond`, places them through the same service and
 * admission as every outbound call (leaving INBOUND_RESERVE free), and settles each lead from its
 * call's final Twilio status and Parley's end reason under the retry policy.
 *
 * A Twilio REST `429`, `5xx` or no answer puts the lead back after a backoff without counting an
 * attempt. Each call's status callback URL names its attempt (`?campaign=…&lead=…&attempt=…`), so its
 * final status finds the attempt even when the CallSid was never noted.
 *
 * A restart picks up this instance's open attempts (their final status still comes to the status
 * callback). A lead it had claimed with no CallSid noted may have been placed all the same (the process
 * died between Twilio taking the call and the store hearing of it): the restart asks Twilio for calls to
 * the number since the lead came due. A call found is noted (and finished if its status is final); none
 * found puts the lead back; when Twilio cannot be asked, the attempt stays open and each pass asks
 * again until the stale sweep ends it.
 *
 * @module
 */

import {
  type CallEvent,
  type CallHub,
  type CallStatus,
  campaignAttemptQuery,
  type EndReason,
} from "../calls/call_events.ts";
import type { FindCalls, PlaceOutboundCall } from "../calls/place_call.ts";
import type { Logger } from "../log.ts";
import type { Campaign, CampaignAttempt, CampaignLead } from "../store/campaign.ts";
import type { Campaigns, DoNotCallList } from "../store/ports.ts";
import { TwilioRestError } from "../twilio/rest_client.ts";
import { dispositionOf, FINAL_TWILIO_STATUSES, settlementAfter } from "./outcomes.ts";
import { inWindow, nextWindowOpen } from "./window.ts";

/** Options of {@linkcode Dialer}. */
export interface DialerOptions {
  campaigns: Campaigns;
  doNotCall: DoNotCallList;
  /** This instance (INSTANCE_ID): its claims carry it. */
  instance: string;
  placeCall: PlaceOutboundCall;
  /**
   * Asks Twilio for the calls to a number since a time: after a restart, whether a call this instance
   * may have placed was placed. Without it Twilio cannot be asked (such attempts wait for the stale sweep).
   */
  findCalls?: FindCalls;
  /** Why the server takes no campaign call now (admission, less the inbound reserve), or undefined. */
  refuseOutbound: () => string | undefined;
  hub: CallHub;
  log: Logger;
  /** Epoch ms. @default Date.now */
  now?: () => number;
  /** How often the dialer looks for due leads, ms (0: only when {@linkcode Dialer.tick} is called). @default 250 */
  tickMs?: number;
  /** The first backoff after a 429 or 5xx, ms; it doubles up to a minute. @default 2000 */
  backoffMs?: number;
  /** An attempt with no final status after this long is ended as `failed`, ms. @default 2 h */
  staleAttemptMs?: number;
}

interface Pace {
  tokens: number;
  at: number;
}

/**
 * The dialer of one instance.
 *
 * @example
 * ```ts
 * const dialer = new Dialer({ campaigns, doNotCall, instance, placeCall, refuseOutbound, hub, log });
 * await dialer.start();
 * // … on shutdown:
 * dialer.close();
 * ```
 */
export class Dialer {
  readonly #o: DialerOptions;
  readonly #now: () => number;
  readonly #paces = new Map<number, Pace>();
  readonly #backoff = new Map<number, number>();
  /** What the hub told of calls of open attempts: machine answers and end reasons, by CallSid. */
  readonly #machines = new Set<string>();
  readonly #endReasons = new Map<string, EndReason | "do_not_call">();
  /** Numbers of calls placed here and of calls that came in, by CallSid (for `do_not_call`). */
  readonly #placedTo = new Map<string, string>();
  readonly #callerOf = new Map<string, string>();
  /** Final statuses that came before their attempt had its CallSid noted. */
  readonly #early = new Map<string, CallEvent & { type: "call.status" }>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ticking: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #off: (() => void) | undefined;
  #settling = new Set<Promise<void>>();
  /** When Twilio was last asked about an open attempt with no CallSid, by attempt id. */
  readonly #asked = new Map<number, number>();

  /** Nothing runs until {@linkcode start}. */
  constructor(options: DialerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Listens to the hub, picks up what a previous run left, and starts the loop. */
  async start(): Promise<void> {
    this.#off = this.#o.hub.subscribe((event) => this.#hear(event));
    await this.#recover();
    this.#schedule();
  }

  /**
   * Runs a pass now (or once more after the one running) and resolves when no pass is left to run:
   * claims, checks and dials what is due.
   */
  tick(): Promise<void> {
    if (this.#ticking !== undefined) {
      this.#again = true;
      return this.#ticking;
    }
    this.#ticking = this.#passes().finally(() => this.#ticking = undefined);
    return this.#ticking;
  }

  async #passes(): Promise<void> {
    do {
      this.#again = false;
      await this.#pass();
    } while (this.#again && !this.#closed);
  }

  /** Resolves once the calls' outcomes heard so far are settled in the store. */
  async settled(): Promise<void> {
    while (this.#settling.size > 0) await Promise.all([...this.#settling]);
  }

  /** Stops the loop and the subscription (calls in progress go on; a restart settles them). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#off?.();
  }

  #schedule(): void {
    const tickMs = this.#o.tickMs ?? 250;
    if (this.#closed || tickMs <= 0) return;
    this.#timer = setTimeout(async () => {
      try {
        await this.tick();
      } catch (error) {
        this.#o.log.error(`Dialer: ${error instanceof Error ? error.message : String(error)}`);
      }
      this.#schedule();
    }, tickMs);
  }

  async #recover(): Promise<void> {
    const { campaigns, instance } = this.#o;
    const open = await campaigns.openAttempts(instance);
    const openLeads = new Set(open.map((attempt) => attempt.campaignLeadId));
    for (const campaign of await campaigns.list()) {
      for (const lead of await campaigns.leads(campaign.id)) {
        if (lead.state === "dialing" && lead.claimedBy === instance && !openLeads.has(lead.id)) {
          // Claimed, then killed before its attempt was noted: maybe dialled, maybe not.
          await this.#resolveUnnoted(lead, undefined);
        }
      }
    }
    let unnoted = 0;
    for (const attempt of open) {
      if (attempt.callSid !== null) continue;
      unnoted++;
      const lead = (await campaigns.leads(attempt.campaignId)).find((l) => l.id === attempt.campaignLeadId);
      if (lead !== undefined) await this.#resolveUnnoted(lead, attempt);
    }
    if (open.length > unnoted) {
      this.#o.log.info(
        `Dialer: waiting for the outcome of ${open.length - unnoted} call(s) from before a restart`,
      );
    }
  }

  /**
   * A lead this instance claimed whose call, if placed, has no CallSid in the store: asks Twilio for
   * calls to its number since it came due (or since the attempt began). A call no attempt knows is
   * this one's: noted, and finished if Twilio says it is over. None: the lead goes back (no second call
   * can overlap a first). Twilio cannot say: an attempt stays open, asked about again on later passes.
   */
  async #resolveUnnoted(lead: CampaignLead, attempt: CampaignAttempt | undefined): Promise<void> {
    const { campaigns, log } = this.#o;
    const now = this.#now();
    if (attempt !== undefined) this.#asked.set(attempt.id, now);
    // A little before: Twilio's clock and ours may differ, and the filter is to the second.
    const since = (attempt?.startedAt ?? lead.nextTryAt) - 5 * 60_000;
    let calls;
    try {
      if (this.#o.findCalls === undefined) throw new Error("no Twilio look-up configured");
      calls = await this.#o.findCalls(lead.phone, since);
    } catch (error) {
      log.warn(
        `Dialer: lead ${lead.id}: cannot ask Twilio whether its call was placed (${
          describeError(error)
        }): its attempt stays open; asked again on a later pass`,
      );
      if (attempt === undefined) this.#asked.set((await campaigns.startAttempt(lead.id, now)).id, now);
      return;
    }
    const known = new Set(
      (await campaigns.attempts(lead.campaignId)).flatMap((a) => a.callSid === null ? [] : [a.callSid]),
    );
    const call = calls.find((c) => !known.has(c.sid));
    if (call === undefined) {
      log.info(`Dialer: lead ${lead.id}: Twilio placed no call to it: put back`);
      const back = { state: "pending" as const, nextTryAt: now, disposition: lead.disposition };
      if (attempt === undefined) {
        await campaigns.settle(lead.id, back);
      } else {
        this.#asked.delete(attempt.id);
        await campaigns.finishAttempt(
          attempt.id,
          { at: now, disposition: "failed", detail: "Not placed: Twilio has no call for this attempt" },
          back,
        );
      }
      return;
    }
    const noted = attempt ?? await campaigns.startAttempt(lead.id, call.startTime ?? now);
    await campaigns.setAttemptCall(noted.id, call.sid);
    this.#asked.delete(noted.id);
    log.info(`Dialer: lead ${lead.id}: Twilio had placed CallSid=${call.sid} (${call.status}): noted`);
    const early = this.#early.get(call.sid);
    if (early !== undefined) {
      this.#early.delete(call.sid);
      await this.#finish(early);
    } else if (FINAL_TWILIO_STATUSES.has(call.status as CallStatus)) {
      await this.#finish({
        type: "call.status",
        at: now,
        callSid: call.sid,
        status: call.status as CallStatus,
        detail: `CallStatus=${call.status}`,
      });
    }
  }

  async #pass(): Promise<void> {
    const { campaigns } = this.#o;
    for (const campaign of await campaigns.list()) {
      if (campaign.state === "stopped" && await campaigns.nextTryAt(campaign.id) !== undefined) {
        // Leads a pass put back while the campaign was being stopped.
        for (const lead of await campaigns.leads(campaign.id)) {
          if (lead.state === "pending") {
            await campaigns.settle(lead.id, { state: "skipped", skipReason: "stopped" });
          }
        }
      }
      if (campaign.state !== "running" && campaign.state !== "waiting") continue;
      await this.#dialCampaign(campaign);
    }
    await this.#sweepStale();
  }

  async #dialCampaign(campaign: Campaign): Promise<void> {
    const { campaigns, instance } = this.#o;
    const now = this.#now();
    const pace = this.#paces.get(campaign.id) ?? { tokens: 1, at: now };
    const burst = Math.max(1, campaign.callsPerSecond);
    pace.tokens = Math.min(burst, pace.tokens + ((now - pace.at) / 1000) * campaign.callsPerSecond);
    pace.at = now;
    this.#paces.set(campaign.id, pace);
    // Leads put back (outside their window) or skipped (do not call) use no call: claim on until the
    // pass has placed what the pace allows, or nothing is due.
    for (let rounds = 0; rounds < 100 && pace.tokens >= 1; rounds++) {
      if (this.#o.refuseOutbound() !== undefined) break;
      // A batch up to the cap: leads outside their window are put back in the same pass; those in it
      // beyond the pace go back untouched (their place in line kept).
      const claimed = await campaigns.claim(campaign.id, now, campaign.maxConcurrent, instance);
      if (claimed.length === 0) break;
      for (const lead of claimed) {
        if (await this.#dialLead(campaign, lead, pace)) pace.tokens -= 1;
      }
    }
    await this.#updateState(campaign);
  }

  /** Checks and dials one claimed lead; true when a request went to Twilio. */
  async #dialLead(campaign: Campaign, lead: CampaignLead, pace: Pace): Promise<boolean> {
    const { campaigns, doNotCall, log } = this.#o;
    const now = this.#now();
    if (await doNotCall.has(lead.phone)) {
      await campaigns.settle(lead.id, { state: "skipped", skipReason: "do_not_call" });
      return false;
    }
    const zone = lead.timezone ?? campaign.window.timezone;
    if (!inWindow(campaign.window, zone, now)) {
      const opens = nextWindowOpen(campaign.window, zone, now);
      await campaigns.settle(lead.id, {
        state: "pending",
        nextTryAt: opens ?? now + 86_400_000,
        disposition: lead.disposition,
      });
      return false;
    }
    if (pace.tokens < 1 || this.#o.refuseOutbound() !== undefined) {
      await campaigns.settle(lead.id, {
        state: "pending",
        nextTryAt: lead.nextTryAt,
        disposition: lead.disposition,
      });
      return false;
    }
    // As the calling page sends them: the lead's name as `lead`, its company and free fields.
    const parameters: Record<string, string> = { lead: lead.name, ...lead.fields, ...campaign.parameters };
    delete parameters.timezone;
    delete parameters.tags;
    let callSid: string;
    try {
      callSid = await this.#o.placeCall({
        to: lead.phone,
        persona: campaign.persona,
        voice: campaign.voice,
        parameters,
        machineDetection: campaign.machineDetection ? "DetectMessageEnd" : undefined,
        // The attempt this call will be (the lead is ours: no other attempt opens meanwhile).
        statusCallbackQuery: campaignAttemptQuery({
          campaignId: campaign.id,
          campaignLeadId: lead.id,
          attempt: lead.attempts + 1,
        }),
      });
    } catch (error) {
      const retryable = !(error instanceof TwilioRestError) || error.status === undefined ||
        error.status === 429 || error.status >= 500;
      if (retryable) {
        const wait = this.#backoff.get(campaign.id) ?? (this.#o.backoffMs ?? 2000);
        this.#backoff.set(campaign.id, Math.min(60_000, wait * 2));
        log.warn(
          `Dialer: campaign ${campaign.id}: Twilio did not take the call (${
            describeError(error)
          }): trying lead ${lead.id} again in ${wait} ms`,
        );
        await campaigns.settle(lead.id, {
          state: "pending",
          nextTryAt: now + wait,
          disposition: lead.disposition,
        });
        // The rest of this pass waits too: Twilio asked for less.
        const pace = this.#paces.get(campaign.id);
        if (pace !== undefined) pace.tokens = Math.min(pace.tokens, 1);
        return true;
      }
      const attempt = await campaigns.startAttempt(lead.id, now);
      const detail = `Twilio refused the call: ${describeError(error)}`;
      await campaigns.finishAttempt(
        attempt.id,
        { at: now, disposition: "failed", detail },
        this.#settlementFor(campaign, "failed", attempt.attempt, now),
      );
      return true;
    }
    this.#backoff.delete(campaign.id);
    const attempt = await campaigns.startAttempt(lead.id, now);
    await campaigns.setAttemptCall(attempt.id, callSid);
    const early = this.#early.get(callSid);
    if (early !== undefined) {
      this.#early.delete(callSid);
      this.#track(this.#finish(early));
    }
    return true;
  }

  #settlementFor(
    campaign: Campaign,
    disposition: CampaignAttempt["disposition"] & string,
    attempts: number,
    at: number,
  ) {
    if (campaign.state === "stopped") return { state: "done" as const, disposition };
    return settlementAfter(disposition, attempts, campaign.retry, at);
  }

  async #updateState(campaign: Campaign): Promise<void> {
    const { campaigns } = this.#o;
    const leads = await campaigns.leads(campaign.id);
    const active = leads.filter((lead) => lead.state === "pending" || lead.state === "dialing");
    if (active.length === 0) {
      await campaigns.setState(campaign.id, "finished", ["running", "waiting"]);
      return;
    }
    const now = this.#now();
    const due = active.some((lead) => lead.state === "dialing" || lead.nextTryAt <= now + 60_000);
    const want = due ? "running" : "waiting";
    if (want !== campaign.state) await campaigns.setState(campaign.id, want, ["running", "waiting"]);
  }

  #hear(event: CallEvent): void {
    if (event.type === "call.placed") this.#remember(this.#placedTo, event.callSid, event.to);
    if (event.type === "call.webhook") {
      this.#remember(
        this.#callerOf,
        event.callSid,
        event.direction.startsWith("outbound") ? event.to : event.from,
      );
    }
    if (event.type === "tool.called" && event.name === "do_not_call" && event.status === "ok") {
      this.#endReasons.set(event.callSid, "do_not_call");
      this.#track(this.#block(event.callSid));
    }
    if (event.type === "call.status" && event.status === "machine-detected") {
      this.#machines.add(event.callSid);
    }
    if (event.type === "call.ended" && this.#endReasons.get(event.callSid) !== "do_not_call") {
      this.#endReasons.set(event.callSid, event.reason);
    }
    if (event.type === "call.status" && FINAL_TWILIO_STATUSES.has(event.status)) {
      this.#track(this.#finish(event));
    }
  }

  /** Keeps at most 10,000 CallSids → numbers, oldest out first. */
  #remember(map: Map<string, string>, callSid: string, number: string): void {
    map.set(callSid, number);
    for (const oldest of map.keys()) {
      if (map.size <= 10_000) break;
      map.delete(oldest);
    }
  }

  /** The person on `callSid` asked not to be called: their number joins the do-not-call list. */
  async #block(callSid: string): Promise<void> {
    let phone = this.#placedTo.get(callSid) ?? this.#callerOf.get(callSid);
    if (phone === undefined) {
      const attempt = await this.#o.campaigns.attemptByCallSid(callSid);
      if (attempt !== undefined) {
        phone = (await this.#o.campaigns.leads(attempt.campaignId)).find((lead) =>
          lead.id === attempt.campaignLeadId
        )
          ?.phone;
      }
    }
    if (phone === undefined) {
      this.#o.log.warn(
        `do_not_call on CallSid=${callSid}: its number is unknown here; add it with POST /api/dnc`,
      );
      return;
    }
    await this.#o.doNotCall.add([phone], "tool", this.#now());
    this.#o.log.info(`do_not_call: CallSid=${callSid}: the number is on the do-not-call list now`);
  }

  #track(work: Promise<void>): void {
    const tracked = work.catch((error) => {
      this.#o.log.error(
        `Dialer: settling a call failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }).finally(() => this.#settling.delete(tracked));
    this.#settling.add(tracked);
  }

  async #finish(event: CallEvent & { type: "call.status" }): Promise<void> {
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
      // Maybe ours, its CallSid not noted yet: kept until it is (a few, briefly).
      if (this.#early.size < 1000) this.#early.set(event.callSid, event);
      return;
    }
    if (attempt.endedAt !== null) return;
    const campaign = await campaigns.get(attempt.campaignId);
    if (campaign === undefined) return;
    const endReason = this.#endReasons.get(event.callSid);
    const disposition = dispositionOf({
      status: event.status,
      detail: event.detail,
      endReason,
      machine: this.#machines.has(event.callSid),
    });
    this.#machines.delete(event.callSid);
    this.#endReasons.delete(event.callSid);
    const at = this.#now();
    await campaigns.finishAttempt(
      attempt.id,
      { at, disposition, detail: event.detail },
      this.#settlementFor(campaign, disposition, attempt.attempt, at),
    );
    if (!this.#closed) void this.tick();
  }

  async #sweepStale(): Promise<void> {
    const stale = this.#o.staleAttemptMs ?? 2 * 3_600_000;
    const now = this.#now();
    for (const attempt of await this.#o.campaigns.openAttempts(this.#o.instance)) {
      if (attempt.callSid === null && now - attempt.startedAt < stale) {
        // Left open because Twilio could not be asked whether it was placed: ask again, twice a minute.
        if (now - (this.#asked.get(attempt.id) ?? now) < 30_000) continue;
        const lead = (await this.#o.campaigns.leads(attempt.campaignId)).find((l) =>
          l.id === attempt.campaignLeadId
        );
        if (lead !== undefined) await this.#resolveUnnoted(lead, attempt);
        continue;
      }
      if (now - attempt.startedAt < stale) continue;
      const campaign = await this.#o.campaigns.get(attempt.campaignId);
      if (campaign === undefined) continue;
      await this.#o.campaigns.finishAttempt(
        attempt.id,
        { at: now, disposition: "failed", detail: "No final status from Twilio" },
        this.#settlementFor(campaign, "failed", attempt.attempt, now),
      );
    }
  }
}

function describeError(error: unknown): string {
  if (error instanceof TwilioRestError) {
    return `${error.status === undefined ? "no answer" : `HTTP ${error.status}`}: ${error.message}${
      error.code === undefined ? "" : ` (code ${error.code})`
    }`;
  }
  return error instanceof Error ? error.message : String(error);
}
