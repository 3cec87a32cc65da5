/**
 * The call's link to the upstream: the session opened on the socket or pre-warmed on the webhook,
 * configured at `start` (or the pre-warm handed over), announced once connected, and replaced by the
 * {@linkcode SessionKeeper} when it is lost (this is the {@linkcode KeptCall} the keeper keeps).
 *
 * @module
 */

import type { EndReason, ReconnectCause } from "../calls/call_events.ts";
import type { HistoryTurn, SessionPlan } from "../engines/engine.ts";
import type { AgentSide } from "./agent_side.ts";
import type { CallParts } from "./call_parts.ts";
import { CallUsage, type SessionUsage } from "./call_usage.ts";
import type { EngineUsage } from "../engines/usage.ts";
import { engineForModel } from "../engines/registry.ts";
import type { StreamStart } from "../twilio/media_stream.ts";
import { type CallSetup, carriedPlanServes, expectedModel, planCall, samePlan } from "./call_setup.ts";
import type { Prewarm } from "./prewarmed_session.ts";
import { type KeptCall, type OwedAnswer, SessionKeeper } from "./session_keeper.ts";
import { type UpstreamEndReason, UpstreamSession, type UpstreamSessionHandlers } from "./upstream_session.ts";

/**
 * Commands for the model held while the call has no session (a tool's output, a note, a "go on"),
 * at most: the oldest go first.
 */
export const MAX_HELD_MESSAGES = 64;

/**
 * What a new session is told when it is asked for the answer the lost session was giving, which the
 * caller did not hear all of (an `answer again`): it has the conversation so far, not what was heard.
 */
export const ANSWER_AGAIN_INSTRUCTION =
  "The phone line dropped while you were answering, and the caller did not hear all of your answer. " +
  "Answer them again now, briefly and in your own words, without greeting them again.";

/** What the link asks of the relay. */
export interface UpstreamLinkHooks {
  /** Where the engine's events go. */
  agent: AgentSide;
  /** True once the call has ended. */
  ended(): boolean;
  /** Ends the call. */
  end(reason: EndReason, detail: string): void;
}

/** One call's upstream session, from the socket's accept to the end. */
export class UpstreamLink implements KeptCall {
  readonly #p: CallParts;
  readonly #hooks: UpstreamLinkHooks;
  #connectMs: number | undefined;
  #announcedConnected = false;
  #callStarted = false;
  #plan: SessionPlan | undefined;
  #prewarm: Prewarm | undefined;
  /** `start` asked for the call the pre-warm was planned for. */
  #planned = false;
  /** The usage of each session that served the call, added up into the call's. */
  readonly #usage = new CallUsage();
  /** What a discarded pre-warm billed before the call started: reported once it has. */
  #billedBeforeStart: { usage: EngineUsage; model: string }[] = [];
  /** Commands sent for the call between the loss of a session and its replacement, for the new one. */
  #held: string[] = [];

  /**
   * Takes the session pre-warmed for the call (it keeps its own handlers, holding what it hears,
   * until `start` hands it over), or opens one for the default persona's model at once.
   */
  constructor(parts: CallParts, hooks: UpstreamLinkHooks, prewarm: Prewarm | undefined) {
    this.#p = parts;
    this.#hooks = hooks;
    const { options } = parts;
    parts.keeper = new SessionKeeper(this, {
      now: parts.now,
      log: parts.log,
      counters: options.counters,
      ...(options.stallMs === undefined ? {} : { stallMs: options.stallMs }),
      ...(options.sessionRolloverMs === undefined ? {} : { rolloverMs: options.sessionRolloverMs }),
    });
    this.#prewarm = prewarm;
    parts.session = this.#prewarm?.session ?? this.#open(expectedModel(options));
  }

  /**
   * How `start` is served: the plan made on the webhook when `start` asks for the call the TwiML
   * described (planned once), else a plan made now ({@linkcode planCall}; the pre-warm still serves
   * if it plans the same session), or why the call cannot be served.
   */
  plan(start: StreamStart): CallSetup | { ok: false; problem: string } {
    const carried = this.#prewarm?.plan;
    this.#planned = carried !== undefined && carriedPlanServes(carried, start, this.#p.options);
    if (this.#planned) return carried!.setup;
    const setup = planCall(start, this.#p.options);
    this.#planned = carried !== undefined && setup.ok && samePlan(carried.setup, setup);
    return setup;
  }

  /**
   * Configures the call's session for `setup` ahead of any caller audio, without waiting for the
   * server (no dead air). Returns the pre-warm to hand over when its session already is.
   */
  configure(setup: CallSetup): Prewarm | undefined {
    const { engine, plan } = setup;
    // A reconnect, even of a pre-warmed session, reconfigures from this plan.
    this.#plan = plan;
    const prewarm = this.#prewarm;
    this.#prewarm = undefined;
    if (prewarm?.fits(this.#planned, this.#billed(prewarm.session.model))) return prewarm;
    const opening = engine.opening(plan);
    const session = this.#p.session;
    if (prewarm !== undefined || plan.model !== session.model || engine !== session.engine) {
      // The model is fixed per session: replace the socket opened ahead of `start`.
      session.close();
      this.#connectMs = undefined;
      this.#p.session = this.#open(plan.model);
    }
    this.#p.session.configure(opening);
    return undefined;
  }

  /** The call started (reported): a held greeting replays now, and the connection is announced. */
  started(claimed: Prewarm | undefined): void {
    this.#callStarted = true;
    for (const { usage, model } of this.#billedBeforeStart) {
      this.#p.report.sessionEvent({ type: "usage", usage }, model);
    }
    this.#billedBeforeStart = [];
    claimed?.handOver(this.#handlers(claimed.session.model));
    this.#announce();
  }

  /** The call ended: an unclaimed pre-warm and the session are closed. */
  close(): void {
    this.#prewarm?.close();
    this.#p.session.close();
  }

  // ── KeptCall ────────────────────────────────────────────────────────────────────────────────

  get session(): UpstreamSession {
    return this.#p.session;
  }

  get label(): string {
    return this.#p.report.label;
  }

  /** A session for the call in progress: same persona and voice, the conversation so far, no greeting. */
  openTakeover(handlers: UpstreamSessionHandlers, history: HistoryTurn[]): UpstreamSession {
    const plan = this.#plan!;
    const session = this.#open(plan.model, handlers);
    session.configure(session.engine.opening({ ...plan, greeting: undefined, history }));
    return session;
  }

  /**
   * The old session is gone: its audio is cleared, the answer under way is over for the call's actions
   * (the keeper may ask the new session for it again), and what is sent for the call until a new
   * session serves it is held for that one.
   */
  sessionLost(): number {
    const cleared = this.#p.bargeIn.sessionLost();
    this.#p.turns.abandon();
    this.#held = [];
    this.#p.session.forwardTo((message) => this.#hold(message));
    this.#p.actions?.sessionLost();
    return cleared;
  }

  hangingUp(): boolean {
    return this.#p.actions?.hangingUp === true;
  }

  /**
   * The new session gets what was held for it, then is asked for the answer the lost one owed (with
   * the `prompt` that asked for it, when one did) or was giving (`answer again`).
   */
  replaced(
    session: UpstreamSession,
    event: { cause: ReconnectCause; gapMs: number; tries: number },
    owed: OwedAnswer | undefined,
    prompt?: readonly string[],
  ): void {
    this.#p.session = session;
    session.attach(this.#handlers(session.model));
    this.#p.report.emit({ type: "reconnected", ...event });
    const held = this.#held;
    this.#held = [];
    for (const message of held) session.send(message);
    if (owed === undefined) return;
    const plan = this.#plan!;
    // The answer again is prompted on every engine: a plain "go on" would follow the lost answer's
    // text when the history has it, and GPT-Live takes one only with Responses delegation. An owed
    // answer a prompt asked for (the wrap-up) is asked with that prompt again, for the same reason;
    // the "go on" only for one owed without (after tool outputs, a caller's turn, a failed answer).
    const ask = owed === "greeting" && plan.greeting !== undefined
      ? session.engine.prompt(plan, plan.greeting)
      : owed === "answer again"
      ? session.engine.prompt(plan, ANSWER_AGAIN_INSTRUCTION)
      : prompt ?? [session.engine.continueMessage()];
    for (const message of ask) session.send(message);
  }

  quiet(): boolean {
    return this.#p.bargeIn.quiet();
  }

  failed(detail: string): void {
    this.#hooks.end("upstream_dropped", detail);
  }

  /** The session is gone: a refusal before the call started ends it; anything else is replaced. */
  lost(reason: UpstreamEndReason, detail: string): void {
    if (this.#hooks.ended() || this.#p.keeper.replacing) return;
    if (this.#plan === undefined || (reason !== "upstream_dropped" && !this.#announcedConnected)) {
      return this.#hooks.end(reason, detail);
    }
    this.#p.keeper.replace(detail);
  }

  #hold(message: string): void {
    this.#held.push(message);
    if (this.#held.length <= MAX_HELD_MESSAGES) return;
    this.#held.shift();
    this.#p.log.warnRateLimited(
      `held-${this.#p.connectionId}`,
      `Dropped the oldest command held for the new session of ${this.label} (over ${MAX_HELD_MESSAGES})`,
    );
  }

  // ── Sessions ────────────────────────────────────────────────────────────────────────────────

  /** The call's handlers for one session of `model` (its usage reports count on top of the earlier sessions'). */
  #handlers(model: string): UpstreamSessionHandlers {
    const callUsage = this.#usage.session(engineForModel(model));
    return {
      onOpen: (connectMs) => {
        this.#connectMs = connectMs;
        this.#p.keeper.opened();
        this.#announce();
      },
      onEvent: (event) => {
        this.#p.keeper.heard();
        if (event.type === "usage") event = { type: "usage", usage: callUsage(event.usage) };
        // After the end, only what the record still takes (the last lines, a cancelled answer's usage).
        if (this.#hooks.ended()) this.#hooks.agent.afterEnd(event);
        else this.#hooks.agent.onEvent(event);
      },
      onEnd: (reason, detail) => this.lost(reason, detail),
    };
  }

  /**
   * Where the usage of a pre-warm of `model` discarded at `start` goes: it was spent on this call, so
   * it counts as one more of its sessions (GPT-Live's seconds add up, Realtime's answers add).
   */
  #billed(model: string): (usage: EngineUsage) => void {
    let callUsage: SessionUsage | undefined;
    return (usage) => {
      callUsage ??= this.#usage.session(engineForModel(model));
      const call = callUsage(usage);
      if (this.#callStarted) this.#p.report.sessionEvent({ type: "usage", usage: call }, model);
      else this.#billedBeforeStart.push({ usage: call, model });
    };
  }

  #open(model: string, handlers = this.#handlers(model)): UpstreamSession {
    const { options } = this.#p;
    return new UpstreamSession({
      engine: options.engineFor(model),
      model,
      apiKey: options.apiKey,
      connect: options.connectUpstream,
      handlers,
      now: this.#p.now,
    });
  }

  #announce(): void {
    if (this.#announcedConnected || this.#connectMs === undefined || !this.#callStarted) return;
    this.#announcedConnected = true;
    this.#p.log.info(`Connected to OpenAI for CallSid=${this.#p.start!.callSid}`);
    this.#p.report.emit({ type: "upstream.connected", connectMs: Math.round(this.#connectMs) });
  }
}
