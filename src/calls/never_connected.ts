/**
 * Gives every call record an end, even when no media stream ever starts: Twilio fetched the
 * webhook but never opened the socket (a wrong PUBLIC_BASE_URL, a tunnel gone), OpenAI refused the
 * session before `start` (the relay then closes the socket without knowing the CallSid), or a
 * placed call was never answered. It listens to the call events hub and, when a call has no
 * `call.started` in time, emits `call.ended` with reason `never_connected` and logs it: the store
 * closes the record and the live feed ends, both only listening. A call whose stream started, or that ended, is
 * never watched again: a duplicate webhook for it restarts no timer.
 *
 * A call the user hangs up (the calling page, `POST /api/calls/:callSid/hangup`) before its stream
 * started is the watch's to end too: the hang-up route marks it before asking Twilio, so the end that
 * follows (Twilio's answer to the hang-up, or its final status if that comes first) is
 * `hung_up_by_user`, detail `hung up before the call connected (…)`, not `never_connected`.
 *
 * Several instances: a call placed here may run on another instance. Before it ends a call (timeout,
 * final status, hang-up, shutdown) the watch reads the shared record: a call that started or ended
 * there is left to that instance, and only forgotten here.
 *
 * @module
 */

import { RecentSet } from "../recent.ts";
import { readWithin } from "../read_within.ts";
import { type CallEvent, FINAL_CALL_STATUSES } from "./call_events.ts";
import type { CallHub } from "./call_hub.ts";
import type { Logger } from "../log.ts";
import { errorText } from "../log.ts";

/** How long after the voice webhook a media stream must start, ms. */
export const STREAM_CONNECT_TIMEOUT_MS = 60_000;

/** Started or ended CallSids remembered, so their later events start no watch. */
const MAX_REMEMBERED = 10_000;

/** Twilio rings an outbound call for at most 600 s before giving up. */
export const MAX_RING_MS = 600_000;

/** What the watch reads of a shared call record (the store's `getCall` answers it). */
export interface RecordState {
  startedAt: number | null;
  endedAt: number | null;
}

/** Options for {@linkcode watchNeverConnected}. */
export interface NeverConnectedOptions {
  /** Webhook answered → stream must start within this, ms. @default STREAM_CONNECT_TIMEOUT_MS */
  timeoutMs?: number;
  /** A placed call's webhook must come within this (Twilio's longest ring), ms. @default 600000 */
  ringMs?: number;
  /** Wall clock for the events it emits. @default Date.now */
  now?: () => number;
  /** Where each end is logged, as the relay logs its calls' (`Call ended: CallSid=… reason=…`). */
  log?: Logger;
  /**
   * The shared call records: a call whose record started or ended (on another instance) is not
   * ended here. Without them (or when the read fails) every call waited on is ended.
   */
  records?: { getCall(callSid: string): Promise<RecordState | undefined> };
  /** A call waited on here was found running (or ended) on another instance: free what it holds here. */
  onElsewhere?: (callSid: string) => void;
}

/** A running watch; see {@linkcode watchNeverConnected}. */
export interface NeverConnectedWatch {
  /**
   * Stops watching. Calls still waiting for their stream end with `server_shutdown`, so their
   * records close too (unless another instance runs them); call it, and await it, before the store
   * stops listening. Without `records` the ends are emitted before it returns. With `leavePlaced`
   * (the next start has this instance's name: a `deno task dev` restart, a single machine's stop),
   * the calls placed here (or taken up) are left open instead, for the next start to take up; it
   * resolves to their CallSids.
   */
  close(options?: { leavePlaced?: boolean }): Promise<string[]>;
  /**
   * A call the previous run placed, still ringing (or awaiting its stream) when it stopped (the
   * store's `RingingRecord`), is watched again: it ends as it would have, by a final
   * Twilio status, a user's hang-up, or `never_connected` at its old deadline (Twilio's longest ring
   * after `placedAt`, plus the connect timeout; or the connect timeout after `webhookAt`), at once if
   * that has passed.
   */
  takeUp(call: { callSid: string; placedAt: number; webhookAt: number | null }): void;
  /**
   * `callSid`, placed or answered here, is taken by another instance (its webhook or its stream,
   * told over the cluster's channel): that instance follows the call now, so it is no longer watched
   * here (neither its timeout, its final status nor a shutdown ends it).
   */
  elsewhere(callSid: string): void;
  /**
   * A user is hanging `callSid` up through Twilio before its stream started (ringing, or between the
   * voice webhook and `start`): marked before Twilio is asked, so the end that follows is
   * `hung_up_by_user`, whichever comes first, {@linkcode userHungUp} or Twilio's final status. False
   * (nothing marked) when the call is not waiting for its stream here.
   */
  userHangingUp(callSid: string): boolean;
  /**
   * Twilio took the hang-up of a call marked by {@linkcode userHangingUp}: it ends now with
   * `hung_up_by_user`, unless it started or ended meanwhile (here, or per the shared record on another
   * instance). Resolves once ended (or left).
   */
  userHungUp(callSid: string): Promise<void>;
  /** Twilio refused the hang-up of a call marked by {@linkcode userHangingUp}: the mark goes. */
  userHangUpFailed(callSid: string): void;
}

/** The detail of a placed call's end when Twilio never asked for its TwiML. */
const NO_WEBHOOK = "Twilio never fetched the voice webhook";

/** The detail of a call's end when the server stops before its stream started. */
export const SHUTDOWN_BEFORE_STREAM = "the server stopped before the media stream started";

/** The detail of an end a user's hang-up gave a call before its stream started, before what happened. */
export const HUNG_UP_BEFORE_CONNECT = "hung up before the call connected";

/**
 * Ends, with `never_connected`, every call whose media stream does not start: within `timeoutMs`
 * of its voice webhook, within Twilio's longest ring of being placed, or by a final Twilio status;
 * with `hung_up_by_user` a call a user hangs up meanwhile ({@linkcode NeverConnectedWatch.userHangingUp}).
 *
 * @example
 * ```ts
 * const watch = watchNeverConnected(hub);
 * // on shutdown, before the store unsubscribes:
 * await watch.close();
 * ```
 */
export function watchNeverConnected(hub: CallHub, options: NeverConnectedOptions = {}): NeverConnectedWatch {
  const timeoutMs = options.timeoutMs ?? STREAM_CONNECT_TIMEOUT_MS;
  const noStream = `no media stream started within ${timeoutMs / 1000} s of the voice webhook ` +
    "(check PUBLIC_BASE_URL, the tunnel, and the log for a refused socket or an OpenAI refusal)";
  /** Calls waiting for their stream, with the timer that ends them. */
  const waiting = new Map<string, ReturnType<typeof setTimeout>>();
  /** Calls whose stream started or that ended, oldest first: a duplicate webhook must not watch them. */
  const settled = new RecentSet<string>(MAX_REMEMBERED);
  /** Calls waited on that a user is hanging up through Twilio: their end is `hung_up_by_user`. */
  const hangingUp = new Set<string>();
  /** Calls waited on that were placed here (or taken up): a dev restart leaves them open. */
  const placedHere = new Set<string>();
  const ringMs = options.ringMs ?? MAX_RING_MS;
  const now = options.now ?? Date.now;

  /** The call is no longer watched here: its stream started, it ended, or another instance has it. */
  const forget = (callSid: string) => {
    clearTimeout(waiting.get(callSid));
    waiting.delete(callSid);
    hangingUp.delete(callSid);
    placedHere.delete(callSid);
    settled.add(callSid);
  };
  const ending = endUnlessElsewhere(hub, waiting, forget, options);
  /** Ends a call that never connected: the user's hang-up, if they are hanging it up. */
  const neverConnected = (callSid: string, detail: string) =>
    hangingUp.has(callSid)
      ? ending(callSid, "hung_up_by_user", `${HUNG_UP_BEFORE_CONNECT} (${detail})`)
      : ending(callSid, "never_connected", detail);
  const wait = (callSid: string, ms: number, detail: string) => {
    if (settled.has(callSid)) return;
    clearTimeout(waiting.get(callSid));
    waiting.set(callSid, setTimeout(() => neverConnected(callSid, detail), ms));
  };

  const onEvent = (event: CallEvent) => {
    switch (event.type) {
      case "call.placed":
        if (settled.has(event.callSid)) return;
        placedHere.add(event.callSid);
        return wait(event.callSid, ringMs + timeoutMs, NO_WEBHOOK);
      case "call.webhook":
        return wait(event.callSid, timeoutMs, noStream);
      case "call.status":
        if (!waiting.has(event.callSid) || !FINAL_CALL_STATUSES.has(event.status)) return;
        // After this event has reached every listener, so the record and feed see the status first.
        queueMicrotask(() => {
          if (waiting.has(event.callSid)) {
            neverConnected(event.callSid, `Twilio reports the call ${event.status} before any media stream`);
          }
        });
        return;
      case "call.started":
      case "call.ended":
        return forget(event.callSid);
    }
  };
  const unsubscribe = hub.subscribe(onEvent);

  return {
    elsewhere: forget,
    userHangingUp(callSid) {
      if (!waiting.has(callSid)) return false;
      hangingUp.add(callSid);
      return true;
    },
    async userHungUp(callSid) {
      if (!waiting.has(callSid) || !hangingUp.has(callSid)) return;
      await ending(callSid, "hung_up_by_user", `${HUNG_UP_BEFORE_CONNECT} (Twilio took the hang-up)`);
    },
    userHangUpFailed(callSid) {
      hangingUp.delete(callSid);
    },
    takeUp({ callSid, placedAt, webhookAt }) {
      if (settled.has(callSid)) return;
      placedHere.add(callSid);
      const [deadline, detail] = webhookAt === null
        ? [placedAt + ringMs + timeoutMs, NO_WEBHOOK]
        : [webhookAt + timeoutMs, noStream];
      wait(callSid, Math.max(0, deadline - now()), detail);
    },
    async close(closeOptions = {}) {
      unsubscribe();
      const left = closeOptions.leavePlaced
        ? [...waiting.keys()].filter((callSid) => placedHere.has(callSid))
        : [];
      const ended = [...waiting.keys()].filter((callSid) => !left.includes(callSid));
      // Those left open are the next start's: no timer of this run ends them.
      for (const callSid of left) clearTimeout(waiting.get(callSid));
      await Promise.all(
        ended.map((callSid) => ending(callSid, "server_shutdown", SHUTDOWN_BEFORE_STREAM)),
      );
      return left;
    },
  };
}

type EndReasonHere = "never_connected" | "hung_up_by_user" | "server_shutdown";

/** How long the shared record is waited for before a call is ended here all the same, ms. */
const RECORD_READ_MS = 2_000;

/**
 * The end of a call waited on, checked first against the shared record (with `records`): a call that
 * started or ended elsewhere is forgotten (and `onElsewhere` told), not ended. Without `records` the
 * end is immediate (one instance: its own hub says all).
 */
function endUnlessElsewhere(
  hub: CallHub,
  waiting: Map<string, ReturnType<typeof setTimeout>>,
  forget: (callSid: string) => void,
  options: NeverConnectedOptions,
): (callSid: string, reason: EndReasonHere, detail: string) => Promise<void> {
  const now = options.now ?? Date.now;
  const end = (callSid: string, reason: EndReasonHere, detail: string) => {
    forget(callSid);
    const line = `Call ended: CallSid=${callSid} reason=${reason} (${detail})`;
    // A warning: often the callee's doing (busy, no answer), not a fault of Parley's.
    if (reason === "never_connected") options.log?.warn(line);
    else options.log?.info(line);
    hub.emit({ type: "call.ended", at: now(), callSid, reason, detail });
  };
  const { records, log } = options;
  return async (callSid, reason, detail) => {
    if (records === undefined) return end(callSid, reason, detail);
    const timer = waiting.get(callSid);
    let elsewhere = false;
    try {
      // Bounded: a stuck connection must not hold the call (or shutdown) for ever.
      const record = await readWithin(records.getCall(callSid), RECORD_READ_MS);
      elsewhere = record !== undefined && (record.startedAt !== null || record.endedAt !== null);
    } catch (error) {
      log?.warn(`Cannot read the record of CallSid=${callSid} (${errorText(error)}): ending it here`);
    }
    // Started, ended or watched anew here while the record was read: that event decides.
    if (!waiting.has(callSid) || waiting.get(callSid) !== timer) return;
    if (!elsewhere) return end(callSid, reason, detail);
    forget(callSid);
    log?.info(`CallSid=${callSid} runs (or ran) on another instance: not ended here (${reason} skipped)`);
    options.onElsewhere?.(callSid);
  };
}
