/**
 * The per-call bridge: one Twilio Media Stream socket ↔ one upstream session, whatever the engine.
 * It owns no wire format: the Twilio leg, the engine and the parts below do.
 *
 * The call path, in order:
 * 1. Twilio's socket is accepted → the session pre-warmed on the webhook is taken (`prewarm.ts`), or
 *    the upstream opens at once (saves a round trip of dead air).
 * 2. `start` → the persona, model, engine and voice are chosen ({@linkcode planCall}); the engine's
 *    opening (and, with a greeting, the request to speak first) goes ahead of caller audio. A
 *    pre-warmed session configured the same way is handed over instead: its held greeting goes to
 *    Twilio at once.
 * 3. Caller frames → the engine's audio message, payload untouched.
 * 4. Agent audio → Twilio `media` + `mark`, payload untouched; marks drive the playback clock.
 * 5. The caller cuts in → `clear` plus the engine's truncate/cancel ({@linkcode BargeIn}); every later
 *    delta of the cut answer is dropped.
 * 6. The upstream drops, stalls or nears its cap → a new session with the conversation so far
 *    ({@linkcode Reconnect}); the Twilio socket stays open. Caller audio is paced and bounded
 *    ({@linkcode CallerAudioGate}).
 * 7. Either side ends → the other is closed at once, with the reason logged.
 *
 * @module
 */

import type { CallEventListener, EndReason, RelayCounters } from "../calls/call_events.ts";
import type { EngineEvent, HistoryTurn, SessionPlan } from "../engines/engine.ts";
import type { EngineChooser } from "../engines/registry.ts";
import type { UpstreamConnector } from "../engines/upstream_socket.ts";
import type { Logger } from "../log.ts";
import type { PersonaRegistry } from "../personas/types.ts";
import type { StreamStart, TwilioInbound } from "../twilio/media_stream.ts";
import { CallActions } from "./actions.ts";
import { TONES_ITEM_PREFIX } from "./keypad_tones.ts";
import { BargeIn, type Cut } from "./barge_in.ts";
import { CallerAudioGate } from "./caller_audio_gate.ts";
import { CallDeadline, WRAP_UP_INSTRUCTION } from "./call_deadline.ts";
import { CallReporter } from "./call_reporter.ts";
import { SessionKeeper } from "./session_keeper.ts";
import { expectedModel, planCall } from "./call_setup.ts";
import type { Prewarm } from "./prewarm.ts";
import { type MediaSocket, TwilioLeg } from "./twilio_leg.ts";
import { TurnTimer } from "./turn_timer.ts";
import { type UpstreamEndReason, UpstreamSession, type UpstreamSessionHandlers } from "./upstream_session.ts";

/** What a relay needs from the server. */
export interface CallRelayOptions {
  /** Picks the engine serving a model. */
  engineFor: EngineChooser;
  /** Model used unless the persona names one. */
  defaultModel: string;
  /** OpenAI key. */
  apiKey: string;
  /** The personas, looked up at `start`. */
  personas: PersonaRegistry;
  /** Persona id used when the stream names none (or an unknown one). */
  defaultPersona: string;
  /** Opens the upstream socket. */
  connectUpstream: UpstreamConnector;
  /** Log lines. */
  log: Logger;
  /** Call events for the store, metrics and live feeds. */
  onEvent: CallEventListener;
  /** Hot-path counters. */
  counters: RelayCounters;
  /** Close a socket that sends no `start` within this many ms. @default 10000 */
  startTimeoutMs?: number;
  /** The CallSid the stream token was issued for: a `start` for any other call is refused. */
  expectedCallSid?: string;
  /** A session that owes an answer and stays silent this long is replaced, ms. @default 15000 */
  stallMs?: number;
  /** A session this old is replaced at the next quiet moment, ms. @default 55 minutes */
  sessionRolloverMs?: number;
  /** The session pre-warmed for that CallSid on the webhook, claimed by the stream token. */
  prewarm?: Prewarm;
  /** Monotonic clock, ms. @default performance.now */
  now?: () => number;
  /** Wall clock for event timestamps, epoch ms. @default Date.now */
  wallClock?: () => number;
}

/** A running relay. */
export interface CallRelay {
  /** Short id used in log lines before the CallSid is known. */
  readonly connectionId: string;
  /** Resolves when the call has ended and both sockets are closed or closing. */
  readonly done: Promise<void>;
  /** Ends the call (server shutdown). */
  shutdown(): void;
  /** Twilio's answering-machine result for this call (`AnsweredBy`): may leave a voicemail. */
  machineAnswered(answeredBy: string): void;
  /**
   * Ends the call because a user hung it up from the page or the API (`hung_up_by_user`): the
   * stream is closed, so Twilio goes on to the `<Connect action>` and the softphone's page hears
   * the socket close.
   */
  hangUp(): void;
  /**
   * A user asked Twilio to hang this call up (from the page or the API): the `stop` or close that
   * follows is recorded as `hung_up_by_user`, not `caller_hung_up`.
   */
  userHangingUp(): void;
}

/** The softphone's CallSids (`src/api/softphone.ts`): its socket's stop or close is the user hanging up. */
const BROWSER_CALL_SID = /^BR[0-9a-f]{32}$/;

let connectionCounter = 0;

/**
 * Bridges `twilio` (an accepted Media Stream socket) to a new upstream session.
 *
 * @example
 * ```ts
 * const { socket, response } = Deno.upgradeWebSocket(req);
 * startCallRelay(socket, options);
 * return response;
 * ```
 */
export function startCallRelay(twilio: MediaSocket, options: CallRelayOptions): CallRelay {
  return new Relay(twilio, options);
}

class Relay implements CallRelay {
  readonly connectionId: string;
  readonly done: Promise<void>;

  readonly #o: CallRelayOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #leg: TwilioLeg;
  readonly #bargeIn: BargeIn;
  readonly #turns: TurnTimer;
  readonly #report: CallReporter;
  #session: UpstreamSession;
  #connectMs: number | undefined;
  #resolveDone!: () => void;
  #start: StreamStart | undefined;
  #startTimer: ReturnType<typeof setTimeout> | undefined;
  #ended = false;
  #announcedConnected = false;
  readonly #gate: CallerAudioGate;
  readonly #keeper: SessionKeeper;
  #plan: SessionPlan | undefined;
  #deadline: CallDeadline | undefined;
  #callStarted = false;
  #prewarm: Prewarm | undefined;
  /** When `start` came, while the greeting's first audio is awaited (monotonic ms). */
  #greetingFrom: number | undefined;
  #actions: CallActions | undefined;
  /** A user asked Twilio to hang up: the stop that follows is theirs. */
  #userHangUp = false;

  constructor(twilio: MediaSocket, options: CallRelayOptions) {
    this.connectionId = `c${++connectionCounter}`;
    this.#o = options;
    this.#log = options.log;
    this.#now = options.now ?? (() => performance.now());
    this.done = new Promise((resolve) => this.#resolveDone = resolve);
    this.#report = new CallReporter(this.#log, {
      connectionId: this.connectionId,
      onEvent: options.onEvent,
      wallClock: options.wallClock ?? Date.now,
    });
    this.#turns = new TurnTimer((latency) => this.#report.turnLatency(latency));

    this.#log.info(`New Twilio connection: ${this.connectionId}`);
    this.#leg = new TwilioLeg(twilio, {
      onMessage: (message) => this.#onTwilioMessage(message),
      onClose: () => this.#hungUp("Twilio closed the media socket"),
    });
    this.#bargeIn = new BargeIn({
      leg: this.#leg,
      turns: this.#turns,
      counters: options.counters,
      now: this.#now,
      onCut: (cut) => this.#onCut(cut),
      onModelStopped: (unplayedMs) =>
        this.#report.emit({ type: "agent.stopped", unplayedMs: Math.round(unplayedMs) }),
    });
    const startTimeoutMs = options.startTimeoutMs ?? 10_000;
    this.#startTimer = setTimeout(() => {
      this.#end("no_start", `no start message within ${startTimeoutMs} ms`);
    }, startTimeoutMs);
    this.#gate = new CallerAudioGate(this.#now, (reason) => options.counters.callerFramesDropped[reason]++);
    this.#keeper = new SessionKeeper({
      now: this.#now,
      log: this.#log,
      counters: options.counters,
      ...(options.stallMs === undefined ? {} : { stallMs: options.stallMs }),
      ...(options.sessionRolloverMs === undefined ? {} : { rolloverMs: options.sessionRolloverMs }),
      session: () => this.#session,
      openTakeover: (handlers, history) => this.#openTakeover(handlers, history),
      sessionLost: () => {
        const cleared = this.#bargeIn.sessionLost();
        this.#turns.abandon();
        return cleared;
      },
      replaced: (session, event) => {
        this.#session = session;
        session.attach(this.#sessionHandlers());
        this.#report.emit({ type: "reconnected", ...event });
      },
      quiet: () => this.#bargeIn.quiet(),
      label: () => this.#callLabel,
      failed: (detail) => this.#end("upstream_dropped", detail),
    });
    // A claimed pre-warm keeps its own handlers (holding what it hears) until `start` hands it over.
    this.#prewarm = options.prewarm;
    this.#session = this.#prewarm?.session ?? this.#openSession(expectedModel(options));
  }

  shutdown(): void {
    this.#end("server_shutdown", "the server is shutting down");
  }

  machineAnswered(answeredBy: string): void {
    if (!this.#ended) this.#actions?.machineAnswered(answeredBy);
  }

  hangUp(): void {
    this.#end("hung_up_by_user", "hung up from the calling page or the API");
  }

  userHangingUp(): void {
    this.#userHangUp = true;
  }

  /** The other end hung up: the caller, unless a user did (a browser call, or a hang-up through Twilio). */
  #hungUp(how: string): void {
    if (this.#userHangUp) {
      return this.#end("hung_up_by_user", `hung up from the calling page or the API (${how})`);
    }
    if (BROWSER_CALL_SID.test(this.#o.expectedCallSid ?? "")) {
      return this.#end(
        "hung_up_by_user",
        `hung up in the browser (${how.replace("Twilio", "the softphone")})`,
      );
    }
    this.#end("caller_hung_up", how);
  }

  get #callLabel(): string {
    return this.#report.label;
  }

  // ── Twilio → upstream ───────────────────────────────────────────────────────────────────────

  #onTwilioMessage(message: TwilioInbound): void {
    if (this.#ended) return;
    switch (message.event) {
      case "media": {
        if (this.#start === undefined) return this.#malformed("media before start");
        if (message.streamSid !== undefined && message.streamSid !== this.#start.streamSid) {
          return this.#foreignFrame(message.streamSid);
        }
        if (this.#keeper.replacing) return this.#gate.drop("gap");
        if (!this.#gate.admit(message.payload)) return;
        const dropped = this.#session.sendAudio(message.payload);
        if (dropped !== undefined) return this.#gate.drop(dropped);
        this.#o.counters.framesToOpenai++;
        return;
      }
      case "mark":
        this.#bargeIn.markEcho(message.name);
        return this.#actions?.heard();
      case "start":
        return this.#onStart(message.start);
      case "stop":
        return this.#hungUp("Twilio sent stop");
      case "dtmf":
        this.#log.info(`DTMF ${message.digit} on ${this.#callLabel}`);
        return this.#actions?.dtmf(message.digit);
      case "connected":
        return;
      case "invalid":
        return this.#malformed(message.problem);
    }
  }

  #malformed(problem: string): void {
    this.#o.counters.malformedFrames++;
    this.#log.warnRateLimited(
      `malformed-${this.connectionId}`,
      `Ignored a malformed frame from Twilio on ${this.#callLabel}: ${problem}`,
    );
  }

  #foreignFrame(streamSid: string): void {
    this.#gate.drop("foreignStream");
    this.#log.warnRateLimited(
      `foreign-stream-${this.connectionId}`,
      `Dropped a media frame for streamSid=${streamSid} on ${this.#callLabel} (stream ${this.#start?.streamSid})`,
    );
  }

  #onStart(start: StreamStart): void {
    if (this.#start !== undefined) return this.#malformed("second start message");
    const expected = this.#o.expectedCallSid;
    if (expected !== undefined && start.callSid !== expected) {
      // Not recorded under either CallSid: nothing on this socket may touch another call's record.
      return this.#end("error", `start for CallSid=${start.callSid} on the stream of CallSid=${expected}`);
    }
    clearTimeout(this.#startTimer);
    this.#start = start;
    this.#report.started(start.callSid);
    this.#leg.begin(start.streamSid);
    const setup = planCall(start, this.#o);
    if (!setup.ok) {
      this.#log.info(`Stream started: CallSid=${start.callSid}`);
      return this.#end("error", setup.problem);
    }
    const { persona, plan } = setup;
    const opening = setup.engine.opening(plan);
    const prewarm = this.#prewarm;
    this.#prewarm = undefined;
    const claimed = prewarm?.fits(setup.engine, plan.model, opening) ? prewarm : undefined;
    if (claimed === undefined) {
      if (
        prewarm !== undefined || plan.model !== this.#session.model || setup.engine !== this.#session.engine
      ) {
        // The model is fixed per session: replace the socket opened ahead of `start`.
        this.#session.close();
        this.#connectMs = undefined;
        this.#session = this.#openSession(plan.model);
      }
      // Ahead of any caller audio, without waiting for the server: no dead air at the start.
      this.#session.configure(opening);
    }
    // A reconnect, even of a pre-warmed session, reconfigures from this plan (checked equal above).
    this.#plan = plan;
    this.#keeper.start();
    const maxMinutes = persona.persona.maxCallMinutes;
    if (maxMinutes !== undefined) {
      this.#deadline = new CallDeadline(maxMinutes * 60_000, {
        wrapUp: () => {
          this.#log.info(`Call nears maxCallMinutes (${maxMinutes}): asking the agent to wrap up`);
          for (const m of this.#session.engine.prompt(plan, WRAP_UP_INSTRUCTION)) this.#session.send(m);
          this.#keeper.answerAsked();
        },
        end: () => this.#end("max_call_minutes", `the persona's maxCallMinutes (${maxMinutes}) was reached`),
      });
    }
    this.#actions = this.#createActions(setup);

    // Bookkeeping after the sends: logging and recording stay off the path to the first audio.
    this.#bargeIn.gateMs = persona.persona.interruptions?.minSpeechMs ?? 0;
    this.#bargeIn.modelOwnsBargeIn = !setup.engine.capabilities.truncates;
    this.#log.info(`Stream started: CallSid=${start.callSid}`);
    if (persona.id !== setup.requested) {
      this.#log.warn(
        `Unknown persona "${setup.requested}" for CallSid=${start.callSid}: using "${persona.id}"`,
      );
    }
    this.#report.emit({
      type: "call.started",
      streamSid: start.streamSid,
      persona: persona.id,
      model: plan.model,
      engine: setup.engine.id,
      parameters: { ...start.customParameters },
    });
    this.#callStarted = true;
    if (plan.greeting !== undefined) this.#greetingFrom = this.#now();
    // The held greeting replays now: to Twilio with its marks, like any agent audio.
    claimed?.handOver(this.#sessionHandlers());
    this.#announceConnected();
  }

  // ── Upstream → Twilio ───────────────────────────────────────────────────────────────────────

  #sessionHandlers(): UpstreamSessionHandlers {
    return {
      onOpen: (connectMs) => {
        this.#connectMs = connectMs;
        this.#keeper.opened();
        this.#announceConnected();
      },
      onEvent: (event) => {
        this.#keeper.heard();
        // A transcript turn still open when the session closes is flushed after the end.
        if (!this.#ended || event.type === "transcript") this.#onEngineEvent(event);
      },
      onEnd: (reason, detail) => this.#upstreamLost(reason, detail),
    };
  }

  #openSession(model: string, handlers = this.#sessionHandlers()): UpstreamSession {
    return new UpstreamSession({
      engine: this.#o.engineFor(model),
      model,
      apiKey: this.#o.apiKey,
      connect: this.#o.connectUpstream,
      handlers,
      now: this.#now,
    });
  }

  #announceConnected(): void {
    if (this.#announcedConnected || this.#connectMs === undefined || !this.#callStarted) return;
    this.#announcedConnected = true;
    this.#log.info(`Connected to OpenAI for CallSid=${this.#start!.callSid}`);
    this.#report.emit({ type: "upstream.connected", connectMs: Math.round(this.#connectMs) });
  }

  #onEngineEvent(event: EngineEvent): void {
    switch (event.type) {
      case "agent.audio":
        this.#bargeIn.agentAudio(event.responseId, event.itemId, event.delta);
        if (this.#greetingFrom !== undefined) this.#firstWord();
        return;
      case "agent.audio.done":
        return this.#bargeIn.audioDone(event.responseId, event.itemId);
      case "caller.started":
        this.#keeper.callerStarted();
        this.#actions?.callerSpoke();
        return this.#bargeIn.callerStarted();
      case "caller.stopped":
        this.#keeper.callerStopped(this.#session.engine.capabilities.serverVad);
        if (this.#bargeIn.callerStopped()) {
          this.#log.info("Caller sound shorter than interruptions.minSpeechMs: agent keeps talking");
        }
        return this.#turns.callerStopped(event.at ?? this.#now());
      case "response.started":
        this.#bargeIn.responseStarted(event.responseId);
        this.#actions?.responseStarted(event.responseId);
        return this.#turns.responseStarted(event.responseId);
      case "response.done":
        this.#keeper.answered();
        this.#bargeIn.responseDone(event.responseId);
        this.#report.responseDone(event, this.#session.model);
        return this.#actions?.responseDone(event.responseId);
      case "tool.call":
        return this.#actions?.toolCall(event);
      case "transcript":
        this.#keeper.remember({ speaker: event.speaker, text: event.text });
        return this.#report.transcript(
          event.speaker,
          event.text,
          event.itemId === undefined ? undefined : this.#bargeIn.heardOf(event.itemId),
        );
      default: {
        // Session-level news: log lines and call events only, unless it ends the call.
        const ending = this.#report.sessionEvent(event, this.#session.model);
        if (ending !== undefined) this.#upstreamLost("upstream_dropped", ending);
      }
    }
  }

  /** The greeting's first audio went to Twilio: how long after `start` (the README's "First word"). */
  #firstWord(): void {
    const ms = this.#now() - this.#greetingFrom!;
    this.#greetingFrom = undefined;
    const how = this.#session === this.#o.prewarm?.session
      ? "pre-warmed session"
      : "session opened on the socket";
    this.#log.info(`First word: greeting audio sent ${Math.round(ms)} ms after start (${how})`);
  }

  // ── Barge-in ───────────────────────────────────────────────────────────────

  /** The caller cut in (Twilio was cleared): stop the agent where the caller stopped hearing it. */
  #onCut(cut: Cut): void {
    // Keypad tones are agent audio to the caller but no item the engine knows.
    const items = cut.items.filter((item) => !item.itemId.startsWith(TONES_ITEM_PREFIX));
    for (const message of this.#session.engine.interruption(items, cut.activeResponse)) {
      this.#session.send(message);
    }

    // Bookkeeping after the sends.
    const first = cut.items[0];
    if (first !== undefined) {
      if (!cut.staleOnly) this.#o.counters.truncations += cut.items.length;
      this.#report.interruption(first, this.#now() - cut.at, cut.staleOnly);
    }
    this.#turns.abandon();
  }

  // ── A new session mid-call ──────────────────────────────────────────────────────────────────

  /** The session is gone: a refusal before the call started ends it; anything else is replaced. */
  #upstreamLost(reason: UpstreamEndReason, detail: string): void {
    if (this.#ended || this.#keeper.replacing) return;
    if (this.#plan === undefined || (reason !== "upstream_dropped" && !this.#announcedConnected)) {
      return this.#end(reason, detail);
    }
    this.#keeper.replace(detail);
  }

  /** A session for the call in progress: same persona and voice, the conversation so far, no greeting. */
  #openTakeover(handlers: UpstreamSessionHandlers, history: HistoryTurn[]): UpstreamSession {
    const plan = this.#plan!;
    const session = this.#openSession(plan.model, handlers);
    session.configure(session.engine.opening({ ...plan, greeting: undefined, history }));
    return session;
  }

  // ── Actions ─────────────────────────────────────────────────────────────────────────────────

  #createActions(setup: Extract<ReturnType<typeof planCall>, { ok: true }>): CallActions {
    const start = this.#start!;
    return new CallActions({
      persona: setup.persona,
      context: { parameters: start.customParameters, callSid: start.callSid, streamSid: start.streamSid },
      engine: setup.engine,
      send: (message) => this.#session.send(message),
      heardAll: () => this.#bargeIn.heardAll(),
      stopAgent: () => this.#bargeIn.cut(this.#now()),
      playAgentAudio: (itemId, payload) => {
        this.#bargeIn.agentAudio(itemId, itemId, payload);
        this.#bargeIn.audioDone(itemId, itemId);
      },
      end: (reason, detail) => this.#end(reason, detail),
      answerAsked: () => this.#keeper.answerAsked(),
      toolCalled: (report) => this.#report.toolCalled(report),
      log: this.#log,
    });
  }

  // ── The end ─────────────────────────────────────────────────────────────────────────────────

  #end(reason: EndReason, detail: string): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#startTimer);
    this.#deadline?.dispose();
    this.#keeper.dispose();
    this.#prewarm?.close();
    this.#bargeIn.dispose();
    this.#session.close();
    this.#leg.close(); // hands the call back to Twilio, which plays the fallback verb after <Connect>
    this.#turns.abandon();
    if (this.#gate.total > 0) {
      this.#report.emit({ type: "caller_audio.dropped", drops: { ...this.#gate.drops } });
    }
    this.#actions?.close();
    this.#report.ended(this.#callLabel, reason, detail);
    const after = this.#actions?.afterStream(reason) ?? { action: "fallback" };
    if (this.#start !== undefined) this.#report.emit({ type: "call.after_stream", ...after });
    // GPT-Live is told goodbye and answers; the call is done when its socket is closed too.
    this.#session.closed.then(() => this.#resolveDone());
  }
}
