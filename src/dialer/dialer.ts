/**
 * The campaign dialer: claims due leads in the store (so instances share the work and a campaign's
 * `maxConcurrent` holds across them), checks the do-not-call list and the lead's calling window at
 * dial time, takes a dial slot of the campaign's `callsPerSecond` pace from the store (so the pace too
 * holds across instances), places calls through the same service and admission as every outbound call
 * (leaving INBOUND_RESERVE free), and settles each lead from its call's final Twilio status and how the
 * call ended (`call_ends.ts`) under the retry policy.
 *
 * A Twilio REST `429` or `5xx` puts the lead back after a backoff without counting an attempt. No
 * answer at all (a timeout, a dropped connection) may hide a call Twilio did create: the lead goes back
 * with its request noted (`requestedAt`), and before anyone dials it again Twilio is asked for calls to
 * the number since then (`requested_calls.ts`); a call found is adopted as the attempt, not dialled
 * again. Each call's status callback URL names its attempt (`?campaign=…&lead=…&attempt=…`), so its
 * final status finds the attempt even when the CallSid was never noted.
 *
 * A restart puts back the leads this instance had claimed with no attempt open (`claim_recovery.ts`;
 * the same look-up guards those whose request went out), and settles its open attempts when their final
 * status comes; on Postgres the peer that finds an instance dead does the same for it.
 *
 * @module
 */

import type { CallHub } from "../calls/call_hub.ts";
import type { FindCalls, PlaceOutboundCall } from "../calls/place_call.ts";
import { errorText, type Logger } from "../log.ts";
import type { Campaign, CampaignLead } from "../store/campaign.ts";
import type { CallRecords, Campaigns, DoNotCallList } from "../store/ports.ts";
import { inWindow, nextWindowOpen } from "./window.ts";
import { AttemptEnds } from "./attempt_ends.ts";
import { CampaignBackoff, type Dialled, placeRequest, type PlaceRequestContext } from "./place_request.ts";
import { adoptRequestedCall } from "./requested_calls.ts";
import { ClaimRecovery } from "./claim_recovery.ts";

/** Options of {@linkcode Dialer}. */
export interface DialerOptions {
  campaigns: Campaigns;
  doNotCall: DoNotCallList;
  /** This instance (INSTANCE_ID): its claims carry it. */
  instance: string;
  placeCall: PlaceOutboundCall;
  /**
   * Asks Twilio for the calls to a number since a time: whether a request whose answer never came
   * placed a call. Without it Twilio cannot be asked, and such a lead waits (it is never dialled blind).
   */
  findCalls?: FindCalls;
  /** The shared call records: how a call another instance ran ended. */
  records?: Pick<CallRecords, "getCall">;
  /** Why the server takes no campaign call now (admission, less the inbound reserve), or undefined. */
  refuseOutbound: () => string | undefined;
  hub: CallHub;
  log: Logger;
  /** Epoch ms. @default Date.now */
  now?: () => number;
  /** How often the dialer looks for due leads, ms (0: only when {@linkcode Dialer.tick} is called). @default 250 */
  tickMs?: number;
  /**
   * How often it looks while no campaign is running or waiting, ms: a start or resume through the API
   * wakes it at once, so only a campaign started on another instance waits for this. @default IDLE_TICK_MS
   */
  idleTickMs?: number;
  /** The first backoff after a 429, a 5xx or no answer, ms; it doubles up to a minute. @default 2000 */
  backoffMs?: number;
  /** An attempt with no final status after this long is ended as `failed`, ms. @default 2 h */
  staleAttemptMs?: number;
}

/**
 * The dialer's cadence while no campaign is running or waiting, ms: an idle server does not read the
 * store four times a second.
 */
export const IDLE_TICK_MS = 2_000;

/** What the dialer's loop has done on this instance since it started: `/metrics` shows it. */
export interface DialerFigures {
  /**
   * Passes finished: each looked for due leads in every running or waiting campaign (whether or not it
   * placed a call). A pass that ended on an error (the store failing, say) is counted too, and in
   * `failedPasses`: the loop goes on and the next pass tries again.
   */
  passes: number;
  /** Of `passes`, those that ended on an error. */
  failedPasses: number;
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
  readonly #attempts: AttemptEnds;
  /** What placing a request needs (`place_request.ts`). */
  readonly #requests: PlaceRequestContext;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ticking: Promise<void> | undefined;
  #again = false;
  #closed = false;
  /** The last pass found no campaign running or waiting: the loop looks every `idleTickMs`. */
  #idle = false;
  #off: (() => void) | undefined;
  readonly #figures: DialerFigures = { passes: 0, failedPasses: 0 };
  /** Passes failed since the last that worked: only the first of a run of failures is logged. */
  #failedInARow = 0;
  /** The error of the last failed pass, as logged: a different one within a run of failures is logged. */
  #lastFailure: string | undefined;
  /** Claims an earlier run or a failed pass left, put back (`claim_recovery.ts`). */
  readonly #claims: ClaimRecovery;

  /** Nothing runs until {@linkcode start}. */
  constructor(options: DialerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#claims = new ClaimRecovery({
      campaigns: options.campaigns,
      instance: options.instance,
      log: options.log,
    });
    this.#attempts = new AttemptEnds({
      campaigns: options.campaigns,
      doNotCall: options.doNotCall,
      ...(options.records === undefined ? {} : { records: options.records }),
      log: options.log,
      now: this.#now,
      onEnded: () => {
        if (!this.#closed) this.wake();
      },
    });
    this.#requests = {
      campaigns: options.campaigns,
      placeCall: options.placeCall,
      log: options.log,
      attempts: this.#attempts,
      backoff: new CampaignBackoff(options.backoffMs ?? 2000),
      putBack: (lead, nextTryAt, requestRefused) => this.#putBack(lead, nextTryAt, requestRefused),
    };
  }

  /** Listens to the hub, picks up what a previous run left, and starts the loop. */
  async start(): Promise<void> {
    this.#off = this.#o.hub.subscribe((event) => this.#attempts.hear(event));
    try {
      await this.#claims.recover();
    } catch (error) {
      // The store could not answer (locked, or a failover): the first pass that can recovers first, so
      // the campaigns do not wait for a restart.
      this.#o.log.error(`Dialer: could not start: ${errorText(error)}; each pass tries again`);
    }
    this.#schedule();
  }

  /**
   * Runs a pass now (or once more after the one running; none once closed) and resolves when no pass
   * is left to run: claims, checks and dials what is due. Rejects with a failed pass's error (logged).
   */
  tick(): Promise<void> {
    if (this.#closed) return this.#ticking ?? Promise.resolve();
    if (this.#ticking !== undefined) {
      this.#again = true;
      return this.#ticking;
    }
    this.#ticking = this.#passes().finally(() => this.#ticking = undefined);
    return this.#ticking;
  }

  /**
   * Runs a pass soon, as {@linkcode tick} does, for callers that do not wait for it (a campaign started
   * through the API, a call's end): a failed pass is logged, never thrown at them.
   */
  wake(): void {
    this.tick().catch(() => {});
  }

  async #passes(): Promise<void> {
    const wasIdle = this.#idle;
    do {
      this.#again = false;
      try {
        await this.#pass();
        if (this.#failedInARow > 0) {
          this.#o.log.info(`Dialer: a pass worked again after ${this.#failedInARow} failed in a row`);
        }
        this.#failedInARow = 0;
      } catch (error) {
        this.#figures.failedPasses++;
        // A store locked or down fails every pass (each tickMs): logged once an episode, the rest counted;
        // a pass that fails otherwise within it is logged too.
        const text = errorText(error);
        if (this.#failedInARow++ === 0 || text !== this.#lastFailure) this.#o.log.error(`Dialer: ${text}`);
        this.#lastFailure = text;
        throw error;
      } finally {
        this.#figures.passes++;
      }
    } while (this.#again && !this.#closed);
    // Woken with work (a campaign started): back to the busy cadence now, not after the idle wait.
    if (wasIdle && !this.#idle && this.#timer !== undefined) this.#schedule();
  }

  /** The passes finished so far (a copy), for `/metrics`. */
  figures(): DialerFigures {
    return { ...this.#figures };
  }

  /** Resolves once the calls' outcomes heard so far are settled in the store. */
  settled(): Promise<void> {
    return this.#attempts.settled();
  }

  /** Stops the loop and the subscription (calls in progress go on; a restart settles them). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#off?.();
    void this.#attempts.close();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const tickMs = this.#o.tickMs ?? 250;
    if (this.#closed || tickMs <= 0) return;
    const waitMs = this.#idle ? Math.max(tickMs, this.#o.idleTickMs ?? IDLE_TICK_MS) : tickMs;
    this.#timer = setTimeout(async () => {
      // A failed pass is logged where it failed; the next one tries again.
      await this.tick().catch(() => {});
      this.#schedule();
    }, waitMs);
  }

  async #pass(): Promise<void> {
    await this.#claims.recover();
    await this.#claims.releaseLeftover();
    const { campaigns } = this.#o;
    let active = false;
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
      active = true;
      await this.#dialCampaign(campaign);
    }
    this.#idle = !active;
    await this.#attempts.sweepStale(this.#o.instance, this.#o.staleAttemptMs ?? 2 * 3_600_000);
  }

  async #dialCampaign(campaign: Campaign): Promise<void> {
    const { campaigns, instance } = this.#o;
    const now = this.#now();
    // Batches of at most a second's calls: the store's pace decides how many of them go out.
    const batch = Math.max(1, Math.min(campaign.maxConcurrent, Math.ceil(campaign.callsPerSecond)));
    try {
      // Leads put back (outside their window) or skipped (do not call) use no slot: claim on until the
      // pace has no slot left, or nothing is due.
      outer: for (let rounds = 0; rounds < 100; rounds++) {
        if (this.#o.refuseOutbound() !== undefined) break;
        const claimed = await campaigns.claim(campaign.id, now, batch, instance);
        if (claimed.length === 0) break;
        for (const [i, lead] of claimed.entries()) {
          if (await this.#dialLead(campaign, lead) !== "stop_pass") continue;
          // Those not reached go back untouched (their place in line kept).
          for (const rest of claimed.slice(i + 1)) await this.#putBack(rest, rest.nextTryAt);
          break outer;
        }
      }
    } catch (error) {
      throw await this.#claims.releaseAfter(campaign, error);
    }
    await this.#updateState(campaign);
  }

  #putBack(lead: CampaignLead, nextTryAt: number, requestRefused = false): Promise<void> {
    return this.#o.campaigns.settle(lead.id, {
      state: "pending",
      nextTryAt,
      disposition: lead.disposition,
      ...(requestRefused ? { requestedAt: null } : {}),
    });
  }

  /** Checks and dials one claimed lead. */
  async #dialLead(campaign: Campaign, lead: CampaignLead): Promise<Dialled> {
    const { campaigns, doNotCall } = this.#o;
    const now = this.#now();
    if (await doNotCall.has(lead.phone)) {
      await campaigns.settle(lead.id, { state: "skipped", skipReason: "do_not_call" });
      return "put_back";
    }
    const zone = lead.timezone ?? campaign.window.timezone;
    if (!inWindow(campaign.window, zone, now)) {
      await this.#putBack(lead, nextWindowOpen(campaign.window, zone, now) ?? now + 86_400_000);
      return "put_back";
    }
    if (this.#o.refuseOutbound() !== undefined) {
      await this.#putBack(lead, lead.nextTryAt);
      return "stop_pass";
    }
    if (lead.requestedAt !== null && await adoptRequestedCall(this.#requests, this.#o.findCalls, lead, now)) {
      return "put_back";
    }
    if (!await campaigns.beginDial(lead.id, now)) {
      await this.#putBack(lead, lead.nextTryAt);
      return "stop_pass";
    }
    return await placeRequest(this.#requests, campaign, lead, now);
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
}
