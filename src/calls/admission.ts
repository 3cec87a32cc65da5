/**
 * Admission: which calls this instance takes, one rule for every way a call arrives (the voice
 * webhook, `POST /api/calls`, the softphone), and what it knows of each CallSid.
 *
 * - **One rule, one message**: a new call is refused while the server drains, or when
 *   MAX_CONCURRENT_CALLS calls are in flight ({@linkcode Admission.refusal}).
 * - **In flight** counts distinct CallSids: calls being relayed, calls whose webhook was answered and
 *   whose stream may still come (for the connect window: the pre-warm's lifetime), and calls placed
 *   here that have not reached their webhook yet.
 * - **Idempotent per CallSid**: the first webhook of a call is answered (and may pre-warm); a repeat
 *   while its stream is still to come gets the same answer, with the same single-use token, and opens
 *   nothing; a CallSid whose stream started, or whose call ended, is over: its webhook opens nothing;
 *   a refused CallSid's webhook gets the same refusal again, and opens nothing either.
 * - **Drain** ends when no call is relayed and no answered call can still come: once the connect
 *   window has passed, a socket that never came is no longer waited for.
 *
 * @module
 */

import { RecentMap, RecentSet } from "../recent.ts";
import { type CallEvent, FINAL_CALL_STATUSES } from "./call_events.ts";

/** Why a new call is refused. */
export type AdmissionRefusalReason = "capacity" | "draining";

/** A refusal: its reason (for metrics) and the message that says it (for logs and answers). */
export interface AdmissionRefusal {
  reason: AdmissionRefusalReason;
  message: string;
}

/** What this instance knows of a CallSid when its voice webhook arrives. */
export type WebhookVerdict =
  /** Never answered here: admit it (or refuse it) as a new call. */
  | { kind: "new"; placed: PlacedCall | undefined }
  /** Answered, its stream not yet come, or refused: answer `answer` again (Twilio retried, or a replay). */
  | { kind: "repeat"; answer: string }
  /** Its stream started, or the call ended: open nothing. */
  | { kind: "over"; why: "started" | "ended" };

/** A call `POST /api/calls` placed from this instance. */
export interface PlacedCall {
  /** The persona it was placed with. */
  persona: string;
}

/** Options of {@linkcode Admission}. */
export interface AdmissionOptions {
  /** MAX_CONCURRENT_CALLS. */
  maxConcurrentCalls: number;
  /**
   * How long an answered webhook holds its slot, and a drain waits for its socket, ms: the
   * pre-warm's lifetime (a socket later than that finds no pre-warm, and is rare).
   */
  connectWindowMs: number;
  /** How long an answered webhook's answer is repeated to a retry: the stream token's lifetime, ms. */
  answerTtlMs: number;
  /** Whether a CallSid this instance no longer remembers was started or ended (the call store). */
  seenBefore?: (callSid: string) => Promise<boolean>;
  /** Ended CallSids remembered, and refused ones (each). @default 10000 */
  maxRemembered?: number;
  /** Monotonic clock, ms. @default performance.now */
  now?: () => number;
}

/** Twilio rings an outbound call for at most 600 s; its webhook comes within that. */
const MAX_RING_MS = 600_000;

interface Answered {
  answer: string;
  /** Holds a slot (and the drain) until then. */
  holdsUntil: number;
  /** Answered again to a retry until then; over afterwards. */
  forgetAt: number;
}

/**
 * The admission service of one instance.
 *
 * @example
 * ```ts
 * const admission = new Admission({ maxConcurrentCalls: 10, connectWindowMs: 15_000, answerTtlMs: 60_000 });
 * hub.subscribe(admission.listener);
 * const verdict = await admission.webhook(callSid); // new, repeat or over
 * const refused = admission.refusal(); // { reason, message } or undefined
 * ```
 */
export class Admission {
  readonly #options: AdmissionOptions;
  readonly #now: () => number;
  /** Placed here, webhook not yet come → the persona and until when it holds a slot. */
  readonly #placed = new Map<string, PlacedCall & { holdsUntil: number }>();
  readonly #answered = new Map<string, Answered>();
  /** CallSids being relayed (Twilio's and the softphone's). */
  readonly #live = new Set<string>();
  /** CallSids whose stream started or whose call ended, oldest first (the newest `maxRemembered`). */
  readonly #over: RecentSet<string>;
  /** Refused CallSids → their answer (the fallback message), oldest first (the newest `maxRemembered`). */
  readonly #refused: RecentMap<string, string>;
  /** Slots held by calls being placed here (Twilio asked, `call.placed` not yet heard). */
  #placing = 0;
  #draining = false;
  #idleWaiters: (() => void)[] = [];
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  /** Nothing in flight. */
  constructor(options: AdmissionOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#over = new RecentSet(options.maxRemembered ?? 10_000);
    this.#refused = new RecentMap(options.maxRemembered ?? 10_000);
  }

  /** True once {@linkcode drain} was called. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Distinct CallSids in flight: relayed, answered within the connect window, placed and ringing, or being placed. */
  inFlight(): number {
    this.#prune();
    const t = this.#now();
    let count = this.#live.size + this.#placing;
    for (const [callSid, entry] of this.#answered) {
      if (entry.holdsUntil > t && !this.#live.has(callSid)) count++;
    }
    for (const callSid of this.#placed.keys()) if (!this.#answered.has(callSid)) count++;
    return count;
  }

  /**
   * Why a new call may not start now, or undefined. `alreadyHeld`: the call holds a slot already (a
   * call placed here reaching its webhook), so only draining refuses it.
   */
  refusal(alreadyHeld = false): AdmissionRefusal | undefined {
    if (this.#draining) {
      return { reason: "draining", message: "The server is draining for a shutdown: no new calls" };
    }
    if (alreadyHeld) return undefined;
    const max = this.#options.maxConcurrentCalls;
    if (this.inFlight() >= max) {
      return {
        reason: "capacity",
        message: `MAX_CONCURRENT_CALLS=${max} calls are in progress: try again later`,
      };
    }
    return undefined;
  }

  /**
   * Holds a slot for a call about to be placed here (`POST /api/calls`), decided by the same rule as
   * {@linkcode refusal}: the refusal, or the release to call once the call is placed (its
   * `call.placed` holds the slot from then) or was not. Checking and holding in one step keeps a
   * burst of requests, all waiting on Twilio at once, within MAX_CONCURRENT_CALLS.
   */
  hold(): AdmissionRefusal | { release(): void } {
    const refused = this.refusal();
    if (refused !== undefined) return refused;
    this.#placing++;
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.#placing--;
      },
    };
  }

  /**
   * What is known of `callSid` as its voice webhook arrives. A CallSid this instance does not know is
   * looked up in the store (`seenBefore`); what this instance learnt while it waited wins, so a retry
   * racing the first webhook is still a repeat once the first is answered (answer it before awaiting
   * anything else).
   */
  async webhook(callSid: string): Promise<WebhookVerdict> {
    const known = this.#known(callSid);
    if (known !== undefined || this.#options.seenBefore === undefined) return known ?? this.#new(callSid);
    const seen = await this.#options.seenBefore(callSid);
    return this.#known(callSid) ?? (seen ? { kind: "over", why: "ended" } : this.#new(callSid));
  }

  /** The verdict on what this instance remembers of `callSid`, or undefined when it knows nothing. */
  #known(callSid: string): WebhookVerdict | undefined {
    this.#prune();
    if (this.#live.has(callSid)) return { kind: "over", why: "started" };
    const answered = this.#answered.get(callSid);
    if (answered !== undefined) return { kind: "repeat", answer: answered.answer };
    // Before `#over`: the refused call's end puts it there too.
    const refused = this.#refused.get(callSid);
    if (refused !== undefined) return { kind: "repeat", answer: refused };
    if (this.#over.has(callSid)) return { kind: "over", why: "ended" };
    return undefined;
  }

  #new(callSid: string): WebhookVerdict {
    const placed = this.#placed.get(callSid);
    return { kind: "new", placed: placed === undefined ? undefined : { persona: placed.persona } };
  }

  /** The webhook of `callSid` was answered with `answer` (a stream): it holds a slot until its stream comes. */
  answered(callSid: string, answer: string): void {
    const t = this.#now();
    this.#answered.set(callSid, {
      answer,
      holdsUntil: t + this.#options.connectWindowMs,
      forgetAt: t + Math.max(this.#options.answerTtlMs, this.#options.connectWindowMs),
    });
    this.#placed.delete(callSid);
  }

  /**
   * The webhook of `callSid` was refused with `answer` (a fallback message, no stream): it holds no
   * slot, and its repeats get `answer` again.
   */
  refused(callSid: string, answer: string): void {
    this.#refused.set(callSid, answer);
  }

  /**
   * `callSid`, answered or placed here, is taken by another instance (its stream or its webhook, told
   * over the cluster's channel, or its shared record): it holds no slot here, and a drain no longer
   * waits for it.
   */
  elsewhere(callSid: string): void {
    const placed = this.#placed.delete(callSid);
    if (!this.#answered.delete(callSid) && !placed) return;
    this.#checkIdle();
  }

  /** A media socket for `callSid` is being relayed. */
  connected(callSid: string): void {
    this.#live.add(callSid);
    this.#answered.delete(callSid);
  }

  /** The relay of `callSid` finished: the call is over. */
  finished(callSid: string): void {
    this.#live.delete(callSid);
    this.#end(callSid);
    this.#checkIdle();
  }

  /**
   * `callSid`, placed here by the previous run and still ringing (or awaiting its stream) when it
   * stopped, is followed again (at startup): it holds a slot, as a placed call does, for `holdsForMs`
   * (the rest of Twilio's longest ring) or until it ends, and its webhook is answered with `persona`.
   */
  takeUp(callSid: string, persona: string, holdsForMs: number): void {
    if (this.#over.has(callSid) || this.#live.has(callSid)) return;
    this.#placed.set(callSid, { persona, holdsUntil: this.#now() + Math.max(0, holdsForMs) });
  }

  /** Hears the call events: placed calls, started and ended ones. Subscribe it to the hub. */
  readonly listener = (event: CallEvent): void => {
    switch (event.type) {
      case "call.placed":
        this.#placed.set(event.callSid, { persona: event.persona, holdsUntil: this.#now() + MAX_RING_MS });
        return;
      case "call.started":
        this.#answered.delete(event.callSid);
        this.#over.add(event.callSid);
        return;
      case "call.status":
        if (FINAL_CALL_STATUSES.has(event.status) && this.#placed.has(event.callSid)) {
          this.#end(event.callSid);
        }
        return;
      case "call.ended":
        if (!this.#live.has(event.callSid)) this.#end(event.callSid);
        this.#checkIdle();
        return;
    }
  };

  /**
   * Stops taking new calls; resolves once no call is relayed and no answered call can still come
   * (its connect window passed).
   */
  drain(): Promise<void> {
    this.#draining = true;
    const idle = new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    this.#checkIdle();
    return idle;
  }

  /** Resolves a drain in progress and stops its timer (shutdown: nothing is left to wait for). */
  close(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    for (const resolve of this.#idleWaiters) resolve();
    this.#idleWaiters = [];
  }

  #end(callSid: string): void {
    this.#placed.delete(callSid);
    this.#answered.delete(callSid);
    this.#over.add(callSid);
  }

  /** Answers past their lifetime are over (their token expired); placed calls past any ring, forgotten. */
  #prune(): void {
    const t = this.#now();
    for (const [callSid, entry] of this.#answered) if (entry.forgetAt <= t) this.#end(callSid);
    for (const [callSid, entry] of this.#placed) if (entry.holdsUntil <= t) this.#placed.delete(callSid);
  }

  /** Resolves the drain once idle; otherwise wakes when the next connect window closes. */
  #checkIdle(): void {
    if (!this.#draining || this.#idleWaiters.length === 0) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#prune();
    const t = this.#now();
    const windows = [...this.#answered]
      .filter(([callSid, entry]) => entry.holdsUntil > t && !this.#live.has(callSid))
      .map(([, entry]) => entry.holdsUntil);
    if (this.#live.size > 0) return;
    if (windows.length === 0) {
      this.close();
      return;
    }
    this.#idleTimer = setTimeout(() => this.#checkIdle(), Math.min(...windows) - t);
  }
}
