/**
 * One pre-warmed session ({@linkcode Prewarm}): opened on the voice webhook for its call, configured
 * from the call's plan, holding what it reports (agent audio capped) until the relay takes it over at
 * `start`, or billed to the call that discarded it. The pool that opens, claims and expires them is
 * `prewarm.ts`.
 *
 * @module
 */

import type { EngineEvent } from "../engines/engine.ts";
import type { EngineUsage } from "../engines/usage.ts";
import type { CarriedPlan } from "./call_setup.ts";
import { mulawDurationMs } from "../twilio/media_stream.ts";
import {
  type UpstreamEndReason,
  UpstreamSession,
  type UpstreamSessionHandlers,
  type UpstreamSessionOptions,
} from "./upstream_session.ts";

/** What a pre-warm is opened with: the call and the plan its session is configured from. */
export interface PrewarmRequest {
  callSid: string;
  plan: CarriedPlan;
}

/** How a {@linkcode Prewarm} opens its session. */
export interface PrewarmSessionOptions {
  apiKey: string;
  connect: UpstreamSessionOptions["connect"];
  now: () => number;
  /** Agent audio held at most, ms. */
  maxHeldMs: number;
  /** Called by {@linkcode Prewarm.discard}. */
  onDiscard: (prewarm: Prewarm, why: string) => void;
}

type Held =
  | { kind: "open"; connectMs: number }
  | { kind: "event"; event: EngineEvent }
  | { kind: "end"; reason: UpstreamEndReason; detail: string };

/** A session opened ahead of its call, holding what it reports until the relay takes it over. */
export class Prewarm {
  /** The call it was opened for. */
  readonly callSid: string;
  /** The session (configured, maybe already speaking the greeting). */
  readonly session: UpstreamSession;
  /** The plan the session was configured from, for `start` to use as is. */
  readonly plan: CarriedPlan;
  #held: Held[] = [];
  #heldMs = 0;
  #droppedMs = 0;
  /** How the session ended before its stream started, if it did. */
  #endedBy: UpstreamEndReason | undefined;
  readonly #maxHeldMs: number;
  readonly #onDiscard: (prewarm: Prewarm, why: string) => void;

  /** Opens and configures the session at once. */
  constructor(request: PrewarmRequest, options: PrewarmSessionOptions) {
    this.callSid = request.callSid;
    this.#maxHeldMs = options.maxHeldMs;
    this.#onDiscard = options.onDiscard;
    this.plan = request.plan;
    const { engine, plan } = request.plan.setup;
    const hold: UpstreamSessionHandlers = {
      onOpen: (connectMs) => this.#held.push({ kind: "open", connectMs }),
      onEvent: (event) => this.#hold(event),
      onEnd: (reason, detail) => {
        this.#endedBy = reason;
        this.#held.push({ kind: "end", reason, detail });
      },
    };
    this.session = new UpstreamSession({
      apiKey: options.apiKey,
      connect: options.connect,
      now: options.now,
      engine,
      model: plan.model,
      handlers: hold,
    });
    this.session.configure(engine.opening(plan));
  }

  /** Agent audio held so far, ms. */
  get heldMs(): number {
    return this.#heldMs;
  }

  /**
   * Why the session cannot serve the call `start` planned, or undefined when it can: configured as
   * `start` plans (`planned`) and not dropped. A session OpenAI refused still serves: the refusal replays and
   * ends the call, as it would have without pre-warm (a refused key is not retried).
   */
  unfitFor(planned: boolean): string | undefined {
    if (!planned) return "the stream's start configures another session";
    if (this.#endedBy === "upstream_dropped") return "OpenAI closed it before the stream started";
    return undefined;
  }

  /**
   * At the stream's `start`: true when the session can serve it ({@linkcode unfitFor}); otherwise it
   * is discarded (logged, closed, counted) and false returned, and the relay opens a fresh one. What
   * the discarded session was billed for was spent on this call: it goes to `billed`
   * ({@linkcode billTo}).
   */
  fits(planned: boolean, billed: (usage: EngineUsage) => void): boolean {
    const unfit = this.unfitFor(planned);
    if (unfit === undefined) return true;
    this.billTo(billed);
    this.discard(unfit);
    return false;
  }

  /**
   * What the session was billed for goes to `billed` from now on, for a session that will serve no
   * call: the usage it held (a greeting answered ahead on Realtime, GPT-Live's seconds so far) at
   * once, in order, and the usage it still reports (GPT-Live's answer to the goodbye carries the
   * session's final billed seconds). Everything else it held or reports is dropped.
   */
  billTo(billed: (usage: EngineUsage) => void): void {
    const held = this.#held;
    this.#held = [];
    const onEvent = (event: EngineEvent) => {
      if (event.type === "usage" || (event.type === "response.done" && event.usage !== undefined)) {
        billed(event.usage!);
      }
    };
    this.session.attach({ onOpen: () => {}, onEvent, onEnd: () => {} });
    for (const item of held) if (item.kind === "event") onEvent(item.event);
  }

  /**
   * Hands the session to the relay: what was held replays through `handlers` at once, in order (the
   * held greeting goes to Twilio now), and later events go straight to them.
   */
  handOver(handlers: UpstreamSessionHandlers): UpstreamSession {
    const held = this.#held;
    this.#held = [];
    this.session.attach(handlers);
    for (const item of held) {
      if (item.kind === "open") handlers.onOpen(item.connectMs);
      else if (item.kind === "event") handlers.onEvent(item.event);
      else handlers.onEnd(item.reason, item.detail);
    }
    return this.session;
  }

  /** The relay found it unfit (`why`, from {@linkcode unfitFor}): logged and closed. */
  discard(why: string): void {
    this.#onDiscard(this, why);
  }

  /** Closes the session and forgets what it held. */
  close(): void {
    this.#held = [];
    this.session.close();
  }

  #hold(event: EngineEvent): void {
    if (event.type === "agent.audio") {
      const ms = mulawDurationMs(event.delta);
      if (this.#heldMs + ms > this.#maxHeldMs) {
        this.#droppedMs += ms;
        return;
      }
      this.#heldMs += ms;
    }
    this.#held.push({ kind: "event", event });
  }

  /** Agent audio dropped over the cap, ms. */
  get droppedMs(): number {
    return this.#droppedMs;
  }
}
