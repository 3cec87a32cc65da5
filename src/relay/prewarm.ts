/**
 * Pre-warm: the call's upstream session opens on the voice webhook, while Twilio is still fetching
 * the TwiML and opening its Media Stream socket, so the greeting is ready the moment the stream
 * starts (see the README, "First word").
 *
 * The webhook plans the call as `start` will (same persona, parameters and CallSid; the StreamSid is
 * not known yet), opens the session, configures it and, with a greeting, asks for it. The plan is
 * carried to `start`, which uses it as is when the stream asks for the same call (planned once).
 * What the session reports is held, agent audio capped at {@linkcode PREWARM_MAX_HELD_MS}, until the
 * stream's token claims it by CallSid; the relay then takes the session over at `start` and the held
 * events replay through it, so the held greeting reaches Twilio at once with its marks.
 *
 * Every pre-warm is claimed or closed: one not claimed within {@linkcode PREWARM_TTL_MS} (Twilio
 * failed, the socket reached another instance) is closed and logged. One whose call ends before its
 * stream starts (the callee or the user hung up, so Twilio reports the call over; the never-connected
 * watch gave up) is closed at once, so it stops being billed ({@linkcode Prewarms.endBeforeStream},
 * and {@linkcode Prewarms.listener} for any other end).
 * A pre-warm emits no call events (until its stream starts it is not a call) but one: what an
 * unclaimed one was billed goes out as its CallSid's `usage` ({@linkcode PrewarmsOptions.onUnclaimedUsage})
 * before the call's `call.ended`: an end that Twilio's status or a hang-up brings first waits for a
 * closing pre-warm's last report (GPT-Live's goodbye), and a pre-warm closed by the end itself bills
 * nothing more, so the record and `call.ended` say the same. One discarded at `start` is billed to
 * that call by the relay ({@linkcode Prewarm.fits}).
 *
 * @module
 */

import { engineForModel } from "../engines/registry.ts";
import type { CallEvent, CallEventListener } from "../calls/call_events.ts";
import type { Logger } from "../log.ts";
import { type CallSetupOptions, planOnWebhook } from "./call_setup.ts";
import type { UpstreamSessionOptions } from "./upstream_session.ts";
import { Prewarm, type PrewarmRequest } from "./prewarmed_session.ts";

/** A pre-warmed session not claimed by then is closed, ms. */
export const PREWARM_TTL_MS = 15_000;

/** Agent audio held for a stream that has not started, at most, ms; later audio is dropped. */
export const PREWARM_MAX_HELD_MS = 30_000;

/**
 * What happened to a pre-warm (the `parley_prewarm_total{outcome}` metric): `ended` is one closed
 * because its call ended before its stream started.
 */
export const PREWARM_OUTCOMES = [
  "opened",
  "claimed",
  "missed",
  "expired",
  "discarded",
  "elsewhere",
  "ended",
] as const;

/** One outcome of {@linkcode PREWARM_OUTCOMES}. */
export type PrewarmOutcome = typeof PREWARM_OUTCOMES[number];

/** Options of {@linkcode Prewarms}. */
export interface PrewarmsOptions {
  log: Logger;
  /** How calls are planned: the same as at `start`. */
  setup: CallSetupOptions;
  /** OpenAI key and socket connector, as for any session. */
  apiKey: string;
  connect: UpstreamSessionOptions["connect"];
  /** @default PREWARM_TTL_MS */
  ttlMs?: number;
  /** @default PREWARM_MAX_HELD_MS */
  maxHeldMs?: number;
  /** Monotonic clock, ms. @default performance.now */
  now?: () => number;
  /**
   * Where the usage of a pre-warm no stream claimed goes (one that expired, or whose call ended before
   * its stream started), as the `usage` call event of its CallSid: OpenAI billed it for that call (its
   * greeting's tokens, GPT-Live's seconds up to the goodbye). Left out, it is counted nowhere.
   */
  onUnclaimedUsage?: (event: Extract<CallEvent, { type: "usage" }>) => void;
}

/**
 * This instance's pre-warmed sessions, by CallSid.
 *
 * @example
 * ```ts
 * const prewarms = new Prewarms({ log, apiKey, connect });
 * prewarms.openForWebhook(callSid, parameters); // on the voice webhook
 * const prewarm = prewarms.claim(callSid); // on the stream token's socket; undefined: open a fresh session
 * ```
 */
export class Prewarms {
  readonly #log: Logger;
  readonly #options: PrewarmsOptions;
  readonly #now: () => number;
  readonly #waiting = new Map<string, { prewarm: Prewarm; timer: ReturnType<typeof setTimeout> }>();
  /**
   * Unclaimed pre-warms (expired, or whose call ended) until their sockets have closed, by CallSid: an
   * end of the call waits for them ({@linkcode endBeforeStream}), so their last usage comes first.
   */
  readonly #ending = new Map<string, Promise<void>>();
  /** Closed pre-warms whose sockets may still be closing (GPT-Live's polite goodbye). */
  readonly #closing = new Set<Promise<void>>();
  /** How many pre-warms ended each way. */
  readonly outcomes: Record<PrewarmOutcome, number> = {
    opened: 0,
    claimed: 0,
    missed: 0,
    expired: 0,
    discarded: 0,
    elsewhere: 0,
    ended: 0,
  };

  /** No pre-warm yet. */
  constructor(options: PrewarmsOptions) {
    this.#log = options.log;
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Pre-warms waiting for their stream. */
  get size(): number {
    return this.#waiting.size;
  }

  /**
   * The voice webhook answered `callSid` with a stream carrying `parameters`: plans the call as its
   * `start` will (the StreamSid is not known yet) and opens its session, unless the persona says
   * `prewarm: false` or the call cannot be planned (`start` will say why).
   */
  openForWebhook(callSid: string, parameters: Record<string, string>): void {
    const plan = planOnWebhook(callSid, parameters, this.#options.setup);
    if (plan === undefined || plan.setup.persona.persona.prewarm === false) return;
    this.open({ callSid, plan });
  }

  /** Opens a session for `request.callSid` now; a second webhook for the same call replaces the first. */
  open(request: PrewarmRequest): void {
    const replaced = this.#waiting.get(request.callSid);
    if (replaced !== undefined) {
      // The replacement gets a lifetime of its own: the old timer must not close it early.
      clearTimeout(replaced.timer);
      this.#waiting.delete(request.callSid);
      this.#close(replaced.prewarm);
    }
    const ttlMs = this.#options.ttlMs ?? PREWARM_TTL_MS;
    const prewarm = new Prewarm(request, {
      apiKey: this.#options.apiKey,
      connect: this.#options.connect,
      now: this.#now,
      maxHeldMs: this.#options.maxHeldMs ?? PREWARM_MAX_HELD_MS,
      onDiscard: (discarded, why) => this.#discard(discarded, why),
    });
    const timer = setTimeout(() => this.#expire(request.callSid, ttlMs), ttlMs);
    this.#waiting.set(request.callSid, { prewarm, timer });
    this.outcomes.opened++;
  }

  /**
   * The pre-warm of `callSid` (the CallSid a verified stream token names), taken out of the waiting
   * set; undefined when this instance did not pre-warm that call (another instance did, or the
   * persona turns it off): the relay then opens a fresh session as without pre-warm.
   */
  claim(callSid: string): Prewarm | undefined {
    const entry = this.#waiting.get(callSid);
    if (entry === undefined) {
      this.outcomes.missed++;
      this.#log.debug(`No pre-warmed session for CallSid=${callSid}: opening one now`);
      return undefined;
    }
    clearTimeout(entry.timer);
    this.#waiting.delete(callSid);
    this.outcomes.claimed++;
    return entry.prewarm;
  }

  /**
   * The stream of `callSid` started on another instance (told over the cluster's channel): closes
   * this instance's pre-warm for it at once instead of at its lifetime's end. False when none waits.
   */
  closeUnused(callSid: string): boolean {
    const entry = this.#waiting.get(callSid);
    if (entry === undefined) return false;
    clearTimeout(entry.timer);
    this.#waiting.delete(callSid);
    this.outcomes.elsewhere++;
    this.#log.info(
      `Pre-warmed session for CallSid=${callSid} closed: its stream started on another instance`,
    );
    this.#close(entry.prewarm);
    return true;
  }

  /**
   * The call of `callSid` is over before its stream started (`why`: Twilio reports it over, a user
   * hung it up): its pre-warm, if one waits, is closed at once, so it stops being billed, and what it
   * was billed goes out as the call's usage — what it held, and what it still reports until its socket
   * has closed (GPT-Live's answer to the goodbye, at most `CLOSE_GRACE_MS`), nothing after. Resolves
   * once closed (true; one already closing, as when it expired, is waited for too): call it, and await
   * it, before the call's end is emitted, so the record and `call.ended` count the same. False when no
   * pre-warm waits for the call.
   */
  async endBeforeStream(callSid: string, why: string): Promise<boolean> {
    // Already closing (expired, or Twilio's final status and its answer to a hang-up close together).
    const closing = this.#ending.get(callSid);
    if (closing !== undefined) {
      await closing;
      return true;
    }
    const entry = this.#waiting.get(callSid);
    if (entry === undefined) return false;
    clearTimeout(entry.timer);
    this.#waiting.delete(callSid);
    this.outcomes.ended++;
    let billing = true;
    this.#billUnclaimed(entry.prewarm, () => billing);
    this.#log.info(
      `Pre-warmed session for CallSid=${callSid} closed: its call ended before its stream started (${why})`,
    );
    this.#close(entry.prewarm);
    await this.#closingFor(callSid, entry.prewarm);
    billing = false;
    return true;
  }

  /**
   * For the hub: a call that ended while its pre-warm still waits (an end no one closed it before,
   * e.g. the never-connected watch's timeout under a longer pre-warm lifetime) has it closed at once.
   * Its usage is not counted: it would reach the record after `call.ended`, which did not count it.
   */
  readonly listener: CallEventListener = (event) => {
    if (event.type !== "call.ended") return;
    const entry = this.#waiting.get(event.callSid);
    if (entry === undefined) return;
    clearTimeout(entry.timer);
    this.#waiting.delete(event.callSid);
    this.outcomes.ended++;
    this.#log.info(
      `Pre-warmed session for CallSid=${event.callSid} closed: its call ended before its stream started ` +
        `(${event.reason}; what it was billed is not in the call's cost)`,
    );
    this.#close(entry.prewarm);
  };

  #discard(prewarm: Prewarm, why: string): void {
    this.outcomes.discarded++;
    this.#log.warn(
      `Discarded the pre-warmed session for CallSid=${prewarm.callSid}: ${why}; opening a fresh one`,
    );
    this.#close(prewarm);
  }

  /** Closes every waiting pre-warm (shutdown) and resolves once their sockets are closed. */
  async close(): Promise<void> {
    for (const [callSid, entry] of this.#waiting) {
      clearTimeout(entry.timer);
      this.#waiting.delete(callSid);
      this.#close(entry.prewarm);
    }
    await Promise.all(this.#closing);
  }

  #expire(callSid: string, ttlMs: number): void {
    const entry = this.#waiting.get(callSid);
    if (entry === undefined) return;
    this.#waiting.delete(callSid);
    this.outcomes.expired++;
    this.#billUnclaimed(entry.prewarm);
    const held = entry.prewarm.heldMs > 0
      ? ` (${Math.round(entry.prewarm.heldMs)} ms of greeting dropped)`
      : "";
    this.#log.info(
      `Pre-warmed session for CallSid=${callSid} not claimed within ${ttlMs / 1000} s: closed${held}`,
    );
    this.#close(entry.prewarm);
    void this.#closingFor(callSid, entry.prewarm);
  }

  /** Resolves once `prewarm`, unclaimed and closed, has closed its socket; meanwhile in `#ending`. */
  #closingFor(callSid: string, prewarm: Prewarm): Promise<void> {
    const closed = prewarm.session.closed.then(() => {
      if (this.#ending.get(callSid) === closed) this.#ending.delete(callSid);
    });
    this.#ending.set(callSid, closed);
    return closed;
  }

  /**
   * What an unclaimed pre-warm was billed goes out as its CallSid's usage, if anyone listens: what it
   * held at once, then what it reports while `billing()` says so.
   */
  #billUnclaimed(prewarm: Prewarm, billing: () => boolean = () => true): void {
    const report = this.#options.onUnclaimedUsage;
    if (report === undefined) return;
    const { callSid, session: { model } } = prewarm;
    prewarm.billTo((usage) => {
      if (!billing()) return;
      report({ type: "usage", at: Date.now(), callSid, model, engine: engineForModel(model), usage });
    });
  }

  #close(prewarm: Prewarm): void {
    prewarm.close();
    const closed = prewarm.session.closed;
    this.#closing.add(closed);
    closed.then(() => this.#closing.delete(closed));
  }
}
