/**
 * How a campaign call ended, for its disposition: Parley's end reason, whether an answering machine
 * picked up, and whether the person asked not to be called (the `do_not_call` tool). The instance
 * that ran the call heard it on its hub; any other instance (Twilio's final status may reach any of
 * them behind a load balancer) reads it from the shared call record. An ended record's reason comes
 * first (the instance that ran the call wrote it); the hub fills in what the record does not say yet.
 *
 * The tool also puts the caller's number on the do-not-call list, on the instance that ran the call.
 *
 * @module
 */

import type { CallEvent, CallStatus, EndReason } from "../calls/call_events.ts";
import type { Logger } from "../log.ts";
import type { CallRecord } from "../store/call_record.ts";
import type { CallRecords, Campaigns, DoNotCallList } from "../store/ports.ts";
import type { CallOutcome } from "./outcomes.ts";
import { errorText } from "../log.ts";
import { RecentMap, RecentSet } from "../recent.ts";

/** How long a final status waits for the record of a call still live in the store (its end is being written), ms. */
const RECORD_SETTLE_MS = 2_000;

/**
 * The most calls whose end (or answering machine) is kept for their final status. The hub carries
 * every call (inbound, placed through the API, ended here with the final status going to another
 * instance), and an entry is wanted only until its call's final status comes, seconds after the end:
 * the oldest go first.
 */
export const MAX_CALLS_HEARD = 10_000;

/** Options of {@linkcode CallEnds}. */
export interface CallEndsOptions {
  campaigns: Campaigns;
  doNotCall: DoNotCallList;
  /** The shared call records (what another instance heard); without them only the hub's word counts. */
  records?: Pick<CallRecords, "getCall">;
  log: Logger;
  now: () => number;
}

/** What one instance heard of calls, and the store's word for the rest. */
export class CallEnds {
  readonly #o: CallEndsOptions;
  readonly #machines = new RecentSet<string>(MAX_CALLS_HEARD);
  readonly #endReasons = new RecentMap<string, EndReason | "do_not_call">(MAX_CALLS_HEARD);
  /** Numbers of calls placed here and of calls that came in, by CallSid (for `do_not_call`). */
  readonly #placedTo = new RecentMap<string, string>(MAX_CALLS_HEARD);
  readonly #callerOf = new RecentMap<string, string>(MAX_CALLS_HEARD);

  constructor(options: CallEndsOptions) {
    this.#o = options;
  }

  /**
   * Notes what `event` tells; returns the work of the `do_not_call` block it asks for (undefined
   * otherwise), for the caller to run (and run again while the store refuses it).
   */
  hear(event: CallEvent): (() => Promise<void>) | undefined {
    // An empty number (a webhook that carried none) is an unknown one: never put on the list.
    if (event.type === "call.placed" && event.to !== "") this.#placedTo.set(event.callSid, event.to);
    if (event.type === "call.webhook") {
      const phone = event.direction.startsWith("outbound") ? event.to : event.from;
      if (phone !== "") this.#callerOf.set(event.callSid, phone);
    }
    if (event.type === "call.status" && event.status === "machine-detected") {
      this.#machines.add(event.callSid);
    }
    if (event.type === "call.ended" && this.#endReasons.get(event.callSid) !== "do_not_call") {
      this.#endReasons.set(event.callSid, event.reason);
    }
    if (event.type === "tool.called" && event.name === "do_not_call" && event.status === "ok") {
      this.#endReasons.set(event.callSid, "do_not_call");
      return () => this.#block(event.callSid);
    }
    return undefined;
  }

  /** Forgets what was heard of `callSid` (its final status came, and no outcome will be asked of it). */
  forget(callSid: string): void {
    this.#endReasons.delete(callSid);
    this.#machines.delete(callSid);
  }

  /**
   * The outcome of `callSid`, which Twilio says ended with `status` (what was heard of it is kept until
   * {@linkcode forget}: the outcome may be asked again if settling it fails).
   */
  async outcome(callSid: string, status: CallStatus, detail: string): Promise<CallOutcome> {
    let endReason = this.#endReasons.get(callSid);
    let machine = this.#machines.has(callSid);
    // Twilio's answering-machine result and the call's end may each have reached another instance.
    if (endReason !== "do_not_call") {
      // Heard here: the record is read once. Else the end may still be on its way to the store.
      const record = await this.#record(callSid, endReason === undefined);
      if (record !== undefined) {
        const blocked = record.toolCalls.some((tool) => tool.name === "do_not_call" && tool.status === "ok");
        // An ended record's reason wins: a local end may be this instance's guess (never_connected).
        const recorded = record.endedAt === null ? undefined : record.endReason ?? undefined;
        endReason = blocked ? "do_not_call" : recorded ?? endReason;
        machine ||= record.statuses.some((change) => change.status === "machine-detected");
      }
    }
    return { status, detail, endReason, machine };
  }

  /**
   * The call's record, once its end is written: with `wait`, a record of a call that started and has
   * not ended is read again for a moment (the instance that ran it writes its end a few ms after the
   * call stops).
   */
  async #record(callSid: string, wait: boolean): Promise<CallRecord | undefined> {
    const { records, log } = this.#o;
    if (records === undefined) return undefined;
    const until = Date.now() + RECORD_SETTLE_MS;
    for (;;) {
      let record: CallRecord | undefined;
      try {
        record = await records.getCall(callSid);
      } catch (error) {
        log.warn(
          `Dialer: cannot read the record of CallSid=${callSid} (${
            errorText(error)
          }): its disposition goes by Twilio's status`,
        );
        return undefined;
      }
      const live = record !== undefined && record.startedAt !== null && record.endedAt === null;
      if (!wait || !live || Date.now() >= until) return record;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The other party's number in the call's record (the callee of an outbound call, else the caller). */
  async #numberInRecord(callSid: string): Promise<string | undefined> {
    const record = await this.#o.records?.getCall(callSid);
    if (record === undefined) return undefined;
    const phone = (record.direction ?? "").startsWith("outbound") ? record.to : record.from;
    return phone === null || phone === "" ? undefined : phone;
  }

  /** The person on `callSid` asked not to be called: their number joins the do-not-call list. */
  async #block(callSid: string): Promise<void> {
    const { campaigns, doNotCall, log } = this.#o;
    let phone = this.#placedTo.get(callSid) ?? this.#callerOf.get(callSid);
    if (phone === undefined) {
      const attempt = await campaigns.attemptByCallSid(callSid);
      if (attempt !== undefined) {
        phone = (await campaigns.leads(attempt.campaignId)).find((lead) => lead.id === attempt.campaignLeadId)
          ?.phone;
      }
    }
    // Heard on another instance (its webhook there, its socket here): the shared record has the number.
    if (phone === undefined) phone = await this.#numberInRecord(callSid);
    if (phone === undefined || phone === "") {
      log.warn(`do_not_call on CallSid=${callSid}: its number is unknown here; add it with POST /api/dnc`);
      return;
    }
    await doNotCall.add([phone], "tool", this.#o.now());
    log.info(`do_not_call: CallSid=${callSid}: the number is on the do-not-call list now`);
  }
}
