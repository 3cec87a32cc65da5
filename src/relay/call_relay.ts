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
 * This file is the call's lifecycle (accept, `start`, end). Its parts (`call_parts.ts`) are shared
 * with the two directions, `caller_side.ts` (3) and `agent_side.ts` (4, 5), with the upstream link
 * (`upstream_link.ts`: 1, 2 and 6) and with what a started call adds (`call_features.ts`: tools,
 * keypad, voicemail, the deadline). A frame tap (`frame_tap.ts`) may observe 3 and 4–5.
 *
 * @module
 */

import type { EndReason } from "../calls/call_events.ts";
import { excerpt, type Logger } from "../log.ts";
import type { StreamStart, TwilioInbound } from "../twilio/media_stream.ts";
import { AgentSide } from "./agent_side.ts";
import { BargeIn } from "./barge_in.ts";
import type { CallDeadline } from "./call_deadline.ts";
import { createCallActions, createDeadline } from "./call_features.ts";
import type { CallParts } from "./call_parts.ts";
import { CallReporter } from "./call_reporter.ts";
import { CallerAudioGate } from "./caller_audio_gate.ts";
import { forwardCallerFrame, forwardKeyPress, reportMalformed } from "./caller_side.ts";
import { awaitLastWords } from "./last_words.ts";
import { tapCall } from "./frame_tap.ts";
import type { CallRelay, CallRelayOptions } from "./relay_options.ts";
import { type MediaSocket, TwilioLeg } from "./twilio_leg.ts";
import { TurnTimer } from "./turn_timer.ts";
import { UpstreamLink } from "./upstream_link.ts";

export type { CallRelay, CallRelayOptions } from "./relay_options.ts";

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
  readonly #p: CallParts;
  readonly #agent: AgentSide;
  readonly #link: UpstreamLink;
  #resolveDone!: () => void;
  #startTimer: ReturnType<typeof setTimeout> | undefined;
  #ended = false;
  #deadline: CallDeadline | undefined;
  /** A user asked Twilio to hang up: the stop that follows is theirs. */
  #userHangUp = false;
  /** Set while an ended call waits for its last transcript: ends the wait. */
  #finishEnd: (() => void) | undefined;

  constructor(twilio: MediaSocket, options: CallRelayOptions) {
    this.connectionId = `c${++connectionCounter}`;
    // The pre-warm goes to the upstream link alone, which lets go of it once used: kept in the call's
    // options, it would hold its session (socket and buffers) for the whole call, dropped or not.
    const { prewarm, ...callOptions } = options;
    this.#o = callOptions;
    this.#log = options.log;
    this.done = new Promise((resolve) => this.#resolveDone = resolve);
    this.#log.info(`New Twilio connection: ${this.connectionId}`);
    this.#p = this.#parts(twilio, callOptions);
    this.#agent = new AgentSide(this.#p, (detail) => this.#link.lost("upstream_dropped", detail));
    this.#link = new UpstreamLink(this.#p, {
      agent: this.#agent,
      ended: () => this.#ended,
      end: (reason, detail) => this.#end(reason, detail),
    }, prewarm);
    const startTimeoutMs = options.startTimeoutMs ?? 10_000;
    this.#startTimer = setTimeout(() => {
      this.#end("no_start", `no start message within ${startTimeoutMs} ms`);
    }, startTimeoutMs);
  }

  /** The call's parts; its session and keeper come with the upstream link. */
  #parts(twilio: MediaSocket, options: CallRelayOptions): CallParts {
    const now = options.now ?? (() => performance.now());
    const report = new CallReporter(options.log, {
      connectionId: this.connectionId,
      onEvent: options.onEvent,
      wallClock: options.wallClock ?? Date.now,
    });
    const turns = new TurnTimer((latency) => report.turnLatency(latency));
    const leg = new TwilioLeg(twilio, {
      onMessage: (message) => this.#onTwilioMessage(message),
      onClose: (closedBecause) =>
        closedBecause === undefined
          ? this.#hungUp("Twilio closed the media socket")
          : this.#hungUp(`Parley closed the media socket: ${closedBecause}`, true),
    });
    const bargeIn = new BargeIn({
      leg,
      turns,
      counters: options.counters,
      now,
      onCut: (cut) => this.#agent.onCut(cut),
      onModelStopped: (unplayedMs) =>
        report.emit({ type: "agent.stopped", unplayedMs: Math.round(unplayedMs) }),
    });
    return {
      connectionId: this.connectionId,
      options,
      log: options.log,
      now,
      leg,
      bargeIn,
      turns,
      report,
      gate: new CallerAudioGate(now, (reason) => options.counters.callerFramesDropped[reason]++),
      keeper: undefined!,
      session: undefined!,
      start: undefined,
      actions: undefined,
      tap: undefined,
    };
  }

  shutdown(): void {
    this.#finishEnd?.(); // a call waiting for its last transcript ends now
    this.#end("server_shutdown", "the server is shutting down");
  }

  machineAnswered(answeredBy: string): void {
    if (!this.#ended) this.#p.actions?.machineAnswered(answeredBy);
  }

  hangUp(): void {
    this.#end("hung_up_by_user", "hung up from the calling page or the API");
  }

  userHangingUp(): void {
    this.#userHangUp = true;
  }

  /**
   * The other end hung up: the caller, unless a user did (a browser call, or a hang-up through Twilio).
   * `byParley`: Parley closed the socket (a huge frame, silence), which no browser user asked for.
   */
  #hungUp(how: string, byParley = false): void {
    if (this.#userHangUp) {
      return this.#end("hung_up_by_user", `hung up from the calling page or the API (${how})`);
    }
    if (!byParley && BROWSER_CALL_SID.test(this.#o.expectedCallSid ?? "")) {
      return this.#end(
        "hung_up_by_user",
        `hung up in the browser (${how.replace("Twilio", "the softphone")})`,
      );
    }
    this.#end("caller_hung_up", how);
  }

  #onTwilioMessage(message: TwilioInbound): void {
    if (this.#ended) return;
    switch (message.event) {
      case "media":
        return forwardCallerFrame(this.#p, message.payload, message.streamSid, message.timestamp);
      case "mark":
        this.#p.bargeIn.markEcho(message.name);
        return this.#p.actions?.heard();
      case "start":
        return this.#onStart(message.start);
      case "stop":
        // A stop naming another stream is not this call's hang-up: the call goes on.
        if (
          message.streamSid !== undefined && this.#p.start !== undefined &&
          message.streamSid !== this.#p.start.streamSid
        ) {
          return reportMalformed(
            this.#p,
            `stop for streamSid=${excerpt(message.streamSid, 64)}, not this stream`,
          );
        }
        return this.#hungUp("Twilio sent stop");
      case "dtmf":
        return forwardKeyPress(this.#p, message.digit);
      case "connected":
        return;
      case "invalid":
        return reportMalformed(this.#p, message.problem);
    }
  }

  #onStart(start: StreamStart): void {
    const p = this.#p;
    if (p.start !== undefined) return reportMalformed(p, "second start message");
    const expected = this.#o.expectedCallSid;
    if (expected !== undefined && start.callSid !== expected) {
      // Not recorded under either CallSid: nothing on this socket may touch another call's record.
      return this.#end("error", `start for CallSid=${start.callSid} on the stream of CallSid=${expected}`);
    }
    clearTimeout(this.#startTimer);
    const startedAt = p.now();
    p.start = start;
    // The call starts now, for its record as for its recording (which counts from `startedAt`).
    const startedAtWall = p.report.started(start.callSid);
    p.leg.begin(start.streamSid);
    const setup = this.#link.plan(start);
    if (!setup.ok) {
      this.#log.info(`Stream started: CallSid=${start.callSid}`);
      return this.#end("error", setup.problem);
    }
    const { persona, plan } = setup;
    p.bargeIn.tap = p.tap = tapCall(this.#o.tap, start, persona.id, startedAt, this.#log);
    const claimed = this.#link.configure(setup);
    p.keeper.start();
    const end = (reason: EndReason, detail: string) => this.#end(reason, detail);
    this.#deadline = createDeadline(p, plan, persona.persona.maxCallMinutes, end);
    p.actions = createCallActions(p, setup, end);

    // Bookkeeping after the sends: logging and recording stay off the path to the first audio.
    p.bargeIn.gateMs = persona.persona.interruptions?.minSpeechMs ?? 0;
    p.bargeIn.modelOwnsBargeIn = !setup.engine.capabilities.truncates;
    this.#log.info(`Stream started: CallSid=${start.callSid}`);
    if (persona.id !== setup.requested) {
      this.#log.warn(
        `Unknown persona "${
          excerpt(setup.requested, 64)
        }" for CallSid=${start.callSid}: using "${persona.id}"`,
      );
    }
    p.report.emit({
      type: "call.started",
      streamSid: start.streamSid,
      persona: persona.id,
      model: plan.model,
      engine: setup.engine.id,
      parameters: { ...start.customParameters },
    }, startedAtWall);
    if (plan.greeting !== undefined) {
      this.#agent.awaitGreeting(p.now(), claimed?.session);
      // Owed like an answer: a session that takes its configuration and never greets is stalled.
      p.keeper.greetingAsked();
    }
    this.#link.started(claimed);
  }

  #end(reason: EndReason, detail: string): void {
    if (this.#ended) return;
    this.#ended = true;
    const p = this.#p;
    clearTimeout(this.#startTimer);
    this.#deadline?.dispose();
    p.keeper.dispose();
    p.bargeIn.dispose();
    p.leg.close(); // hands the call back to Twilio, which plays the fallback verb after <Connect>
    p.turns.abandon();
    if (p.gate.total > 0) p.report.emit({ type: "caller_audio.dropped", drops: { ...p.gate.drops } });
    p.actions?.close();
    // The call ends now, for its record as for its recording: both clocks read together, before the
    // recorder finishes its file (a write a busy disk holds would otherwise lengthen the record only).
    const endedNow = p.now();
    const endedAt = p.report.wallNow();
    p.tap?.ended(endedNow);
    const finish = () => {
      this.#finishEnd = undefined;
      this.#agent.lingering(false);
      this.#link.close();
      // The decision before the end: a store may write them in separate batches, and another instance
      // answering Twilio's <Connect action> takes an ended record without a decision for one that has none.
      const after = p.actions?.afterStream(reason) ?? { action: "fallback" };
      if (p.start !== undefined) p.report.emit({ type: "call.after_stream", ...after });
      const label = p.report.endLabel(this.#o.expectedCallSid);
      // GPT-Live is told goodbye and answers with the session's final usage: the end (`call.ended`, which
      // tells the call's cost) waits for that answer, at most CLOSE_GRACE_MS. The call is done when the
      // socket is closed too.
      const waitsForGoodbye = p.session.closing;
      if (!waitsForGoodbye) p.report.ended(label, reason, detail, endedAt);
      p.session.closed.then(() => {
        if (waitsForGoodbye) p.report.ended(label, reason, detail, endedAt);
        this.#resolveDone();
      });
    };
    // The caller's last words may still be on their way: the call waits for them (`last_words.ts`).
    this.#finishEnd = p.start === undefined ? undefined : awaitLastWords(p, this.#agent, reason, finish);
    if (this.#finishEnd === undefined) finish();
  }
}
