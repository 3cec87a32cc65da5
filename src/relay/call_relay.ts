/**
 * The per-call bridge: one Twilio Media Stream socket ↔ one OpenAI Realtime session.
 *
 * The call path, in order:
 * 1. Twilio's socket is accepted → the upstream opens at once (saves a round trip of dead air).
 * 2. `start` → the persona is chosen, `session.update` (and, with a greeting, `response.create`)
 *    is queued ahead of caller audio and flushed the moment the upstream is open.
 * 3. Caller frames → `input_audio_buffer.append`, payload untouched.
 * 4. Agent deltas → Twilio `media` + `mark`, payload untouched; marks drive the playback clock.
 * 5. The caller cuts in → `clear`, `conversation.item.truncate` at what was heard, `response.cancel`,
 *    and every later delta of the cut response is dropped.
 * 6. Either side ends → the other is closed at once, with the reason logged.
 *
 * @module
 */

import type { CallEventListener, EndReason, RelayCounters } from "../calls/call_events.ts";
import type { Logger } from "../log.ts";
import { excerpt } from "../log.ts";
import { renderInstructions } from "../personas/loader.ts";
import type { LoadedPersona, PersonaRegistry } from "../personas/types.ts";
import {
  appendAudioEvent,
  parseRealtimeEvent,
  type RealtimeServerEvent,
  responseCancelEvent,
  responseCreateEvent,
  truncateEvent,
} from "../realtime/events.ts";
import { sessionUpdateEvent } from "../realtime/session.ts";
import {
  realtimeSessionUrl,
  type Upstream,
  type UpstreamConnector,
  type UpstreamFailure,
} from "../realtime/upstream.ts";
import {
  mulawDurationMs,
  parseTwilioMessage,
  type StreamStart,
  TwilioFrames,
} from "../twilio/media_stream.ts";
import { PlaybackClock } from "./playback_clock.ts";
import { engineForModel, type RealtimeVoice, voiceProblem } from "../engines/voices.ts";

/** What a relay needs from the server. */
export interface CallRelayOptions {
  /** Realtime endpoint without the model. */
  realtimeUrl: string;
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
  /** Ends the call because a user hung it up from the page or the API. */
  hangUp(): void;
}

let connectionCounter = 0;

/**
 * Bridges `twilio` (an accepted Media Stream socket) to a new Realtime session.
 *
 * @example
 * ```ts
 * const { socket, response } = Deno.upgradeWebSocket(req);
 * startCallRelay(socket, options);
 * return response;
 * ```
 */
export function startCallRelay(twilio: WebSocket, options: CallRelayOptions): CallRelay {
  return new Relay(twilio, options);
}

interface TurnTiming {
  stoppedAt: number;
  responseId: string | undefined;
  itemId: string | undefined;
  sentAt: number | undefined;
}

class Relay implements CallRelay {
  readonly connectionId: string;
  readonly done: Promise<void>;

  readonly #twilio: WebSocket;
  readonly #o: CallRelayOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #wall: () => number;
  readonly #clock = new PlaybackClock();
  #resolveDone!: () => void;

  #upstream: Upstream | undefined;
  #upstreamModel: string;
  #upstreamOpen = false;
  #upstreamOpenedAt = 0;
  #upstreamConnectMs = 0;
  /** Messages waiting for the upstream to open, in order. */
  #pending: string[] = [];

  #start: StreamStart | undefined;
  #persona: LoadedPersona | undefined;
  #frames: TwilioFrames | undefined;
  #startTimer: ReturnType<typeof setTimeout> | undefined;
  #ended = false;
  #announcedConnected = false;
  #sessionConfigured = false;

  /** Response in progress upstream, if any. */
  #activeResponse: string | undefined;
  /** Responses cut off by the caller: their late deltas are dropped. */
  readonly #droppedResponses = new Set<string>();
  /** Items cut off, with what was heard: for the transcript. */
  readonly #interruptedItems = new Map<string, number>();
  #gateTimer: ReturnType<typeof setTimeout> | undefined;
  /** Item of the latest agent audio sent to Twilio. */
  #lastItem: string | undefined;
  #turn: TurnTiming | undefined;

  constructor(twilio: WebSocket, options: CallRelayOptions) {
    this.connectionId = `c${++connectionCounter}`;
    this.#twilio = twilio;
    this.#o = options;
    this.#log = options.log;
    this.#now = options.now ?? (() => performance.now());
    this.#wall = options.wallClock ?? Date.now;
    this.#upstreamModel = options.defaultModel;
    this.done = new Promise((resolve) => this.#resolveDone = resolve);

    this.#log.info(`New Twilio connection: ${this.connectionId}`);
    twilio.onmessage = (event) => this.#onTwilioMessage(event.data);
    twilio.onclose = () => this.#end("caller_hung_up", "Twilio closed the media socket");
    twilio.onerror = () => {}; // a close always follows
    this.#startTimer = setTimeout(() => {
      this.#end("no_start", `no start message within ${this.#o.startTimeoutMs ?? 10_000} ms`);
    }, options.startTimeoutMs ?? 10_000);
    this.#openUpstream(this.#upstreamModel);
  }

  shutdown(): void {
    this.#end("server_shutdown", "the server is shutting down");
  }

  hangUp(): void {
    this.#end("hung_up_by_user", "hung up from the calling page or the API");
  }

  get #callLabel(): string {
    return this.#start === undefined ? `connection ${this.connectionId}` : `CallSid=${this.#start.callSid}`;
  }

  // ── Upstream ────────────────────────────────────────────────────────────────────────────────

  #openUpstream(model: string): void {
    this.#upstreamModel = model;
    this.#upstreamOpen = false;
    this.#upstreamOpenedAt = this.#now();
    const url = realtimeSessionUrl(this.#o.realtimeUrl, model);
    const upstream = this.#o.connectUpstream({ url, apiKey: this.#o.apiKey }, {
      onOpen: () => {
        if (upstream !== this.#upstream || this.#ended) return;
        this.#upstreamOpen = true;
        this.#upstreamConnectMs = this.#now() - this.#upstreamOpenedAt;
        for (const message of this.#pending) upstream.send(message);
        this.#pending = [];
        this.#announceConnected();
      },
      onMessage: (text) => {
        if (upstream === this.#upstream && !this.#ended) this.#onUpstreamEvent(parseRealtimeEvent(text));
      },
      onClose: (code, reason) => {
        if (upstream !== this.#upstream) return;
        this.#end(
          "upstream_dropped",
          `OpenAI closed the connection (${code}${reason ? ` ${excerpt(reason)}` : ""})`,
        );
      },
      onFailure: (failure: UpstreamFailure) => {
        if (upstream !== this.#upstream) return;
        this.#end("upstream_refused", failure.message);
      },
    });
    this.#upstream = upstream;
  }

  #sendUpstream(message: string): void {
    if (this.#upstreamOpen) this.#upstream!.send(message);
    else this.#pending.push(message);
  }

  #announceConnected(): void {
    if (this.#announcedConnected || !this.#upstreamOpen || this.#start === undefined) return;
    this.#announcedConnected = true;
    this.#log.info(`Connected to OpenAI for CallSid=${this.#start.callSid}`);
    this.#emit({ type: "upstream.connected", connectMs: Math.round(this.#upstreamConnectMs) });
  }

  #onUpstreamEvent(event: RealtimeServerEvent): void {
    switch (event.type) {
      case "response.output_audio.delta":
        return this.#onAgentAudio(event.responseId, event.itemId, event.delta);
      case "response.output_audio.done":
        return this.#finishItem(event.responseId, event.itemId);
      case "input_audio_buffer.speech_started":
        return this.#onSpeechStarted();
      case "input_audio_buffer.speech_stopped":
        return this.#onSpeechStopped();
      case "response.created":
        this.#activeResponse = event.responseId;
        if (this.#turn !== undefined && this.#turn.responseId === undefined) {
          this.#turn.responseId = event.responseId;
        }
        return;
      case "response.done":
        if (this.#activeResponse === event.responseId) this.#activeResponse = undefined;
        this.#finishItem(event.responseId, undefined);
        if (event.status === "failed" || event.status === "incomplete") {
          this.#log.warn(
            `Response ${event.status} for ${this.#callLabel}: ${event.reason || "no reason given"}`,
          );
        }
        if (event.usage !== undefined) {
          this.#emit({
            type: "usage",
            model: this.#upstreamModel,
            responseId: event.responseId,
            usage: event.usage,
          });
        }
        return;
      case "caller.transcript":
        if (event.transcript.trim() === "") return;
        this.#log.info(`User said: "${event.transcript}"`);
        this.#emit({ type: "transcript", speaker: "caller", text: event.transcript });
        return;
      case "agent.transcript": {
        const heard = this.#interruptedItems.get(event.itemId);
        this.#log.info(
          `AI said: "${event.transcript}"${
            heard === undefined ? "" : ` (cut off after ${Math.round(heard)} ms)`
          }`,
        );
        this.#emit({
          type: "transcript",
          speaker: "agent",
          text: event.transcript,
          ...(heard === undefined ? {} : { interruptedAtMs: Math.round(heard) }),
        });
        return;
      }
      case "session.updated":
        if (!this.#sessionConfigured && this.#start !== undefined) {
          this.#sessionConfigured = true;
          this.#log.info("Session configured");
          this.#emit({ type: "session.configured" });
        }
        return;
      case "error":
        return this.#onUpstreamError(event.code, event.message);
      case "invalid":
        this.#log.warnRateLimited(
          `upstream-invalid-${this.connectionId}`,
          `Unreadable event from OpenAI: ${event.problem}`,
        );
        return;
      default:
        return;
    }
  }

  #onUpstreamError(code: string, message: string): void {
    // A cancel that raced the server's own cancel (interrupt_response) is harmless.
    if (code === "response_cancel_not_active") return;
    this.#log.error(`OpenAI error for ${this.#callLabel}: ${code || "error"}: ${excerpt(message, 300)}`);
    if (code === "session_expired") {
      this.#end("upstream_dropped", "the OpenAI session reached its 60-minute limit");
    }
  }

  // ── Agent audio → Twilio ────────────────────────────────────────────────────────────────────

  #onAgentAudio(responseId: string, itemId: string, delta: string): void {
    if (this.#droppedResponses.has(responseId)) {
      this.#o.counters.staleDeltasDropped++;
      return;
    }
    const frames = this.#frames;
    if (frames === undefined || delta === "") return;
    const now = this.#now();
    const { startMark, endMark } = this.#clock.sent(itemId, responseId, mulawDurationMs(delta), now);
    const twilio = this.#twilio;
    if (twilio.readyState !== WebSocket.OPEN) return;
    if (startMark !== undefined) twilio.send(frames.mark(startMark));
    twilio.send(frames.media(delta));
    if (endMark !== undefined) twilio.send(frames.mark(endMark));
    this.#o.counters.framesToTwilio++;
    this.#lastItem = itemId;

    const turn = this.#turn;
    if (turn !== undefined && turn.sentAt === undefined && turn.responseId === responseId) {
      turn.sentAt = now;
      turn.itemId = itemId;
    }
  }

  /** Marks the unmarked tail of an item whose audio is complete (`itemId` undefined: the latest). */
  #finishItem(responseId: string, itemId: string | undefined): void {
    const frames = this.#frames;
    const item = itemId ?? this.#lastItem;
    if (frames === undefined || item === undefined || this.#droppedResponses.has(responseId)) return;
    const mark = this.#clock.finish(item);
    if (mark !== undefined && this.#twilio.readyState === WebSocket.OPEN) {
      this.#twilio.send(frames.mark(mark));
    }
  }

  #onMarkEcho(name: string): void {
    const now = this.#now();
    const echo = this.#clock.echo(name, now);
    const turn = this.#turn;
    if (echo !== undefined && turn?.sentAt !== undefined && echo.itemId === turn.itemId) {
      this.#finishTurn(turn, now - turn.stoppedAt);
    }
  }

  #finishTurn(turn: TurnTiming, heardMs: number | undefined): void {
    this.#turn = undefined;
    if (turn.sentAt === undefined) return;
    const sentMs = Math.round(turn.sentAt - turn.stoppedAt);
    const heard = heardMs === undefined ? undefined : Math.round(heardMs);
    this.#log.info(
      heard === undefined
        ? `Turn latency: ${sentMs} ms (first audio sent; playback not confirmed)`
        : `Turn latency: ${heard} ms (first audio sent after ${sentMs} ms)`,
    );
    this.#emit({ type: "turn.latency", firstAudioSentMs: sentMs, firstAudioHeardMs: heard });
  }

  // ── Turn taking and barge-in ────────────────────────────────────────────────────────────────

  #onSpeechStarted(): void {
    const gateMs = this.#persona?.persona.interruptions?.minSpeechMs ?? 0;
    if (gateMs <= 0) {
      this.#bargeIn(this.#now());
      return;
    }
    if (this.#gateTimer !== undefined) return;
    const startedAt = this.#now();
    if (this.#clock.unplayedMs(startedAt) <= 0 && this.#activeResponse === undefined) return;
    this.#gateTimer = setTimeout(() => {
      this.#gateTimer = undefined;
      this.#bargeIn(this.#now());
    }, gateMs);
  }

  #onSpeechStopped(): void {
    if (this.#gateTimer !== undefined) {
      clearTimeout(this.#gateTimer);
      this.#gateTimer = undefined;
      this.#log.info("Caller sound shorter than interruptions.minSpeechMs: agent keeps talking");
    }
    if (this.#turn?.sentAt !== undefined) this.#finishTurn(this.#turn, undefined);
    this.#turn = { stoppedAt: this.#now(), responseId: undefined, itemId: undefined, sentAt: undefined };
  }

  /** The caller cut in at `at`: stop the agent where the caller stopped hearing it. */
  #bargeIn(at: number): void {
    const cut = this.#clock.interrupt(at);
    const frames = this.#frames;
    const cancelled = this.#activeResponse;
    if (cut.length > 0 && frames !== undefined) {
      if (this.#twilio.readyState === WebSocket.OPEN) this.#twilio.send(frames.clear());
      for (const item of cut) {
        this.#droppedResponses.add(item.responseId);
        this.#interruptedItems.set(item.itemId, item.heardMs);
        this.#sendUpstream(truncateEvent(item.itemId, item.heardMs));
      }
    }
    if (cancelled !== undefined) {
      // Deltas of it may still be in flight: none of them may reach the caller.
      this.#droppedResponses.add(cancelled);
      this.#sendUpstream(responseCancelEvent());
      this.#activeResponse = undefined;
    }

    // Bookkeeping after the sends.
    if (cut.length > 0) {
      const clearLatencyMs = this.#now() - at;
      this.#o.counters.truncations += cut.length;
      const first = cut[0]!;
      this.#log.info(
        `Caller interrupted: truncated ${first.itemId} at ${Math.floor(first.heardMs)} of ${
          Math.round(first.sentMs)
        } ms sent`,
      );
      this.#emit({
        type: "interruption",
        itemId: first.itemId,
        audioEndMs: Math.floor(first.heardMs),
        clearLatencyMs: Math.round(clearLatencyMs * 1000) / 1000,
      });
    }
    if (this.#turn?.sentAt !== undefined) this.#finishTurn(this.#turn, undefined);
  }

  // ── Twilio → upstream ───────────────────────────────────────────────────────────────────────

  #onTwilioMessage(data: unknown): void {
    if (this.#ended) return;
    if (typeof data !== "string") {
      this.#malformed("binary frame (Twilio only sends text)");
      return;
    }
    const message = parseTwilioMessage(data);
    switch (message.event) {
      case "media":
        if (this.#start === undefined) {
          this.#malformed("media before start");
          return;
        }
        this.#sendUpstream(appendAudioEvent(message.payload));
        this.#o.counters.framesToOpenai++;
        return;
      case "mark":
        return this.#onMarkEcho(message.name);
      case "start":
        return this.#onStart(message.start);
      case "stop":
        return this.#end("caller_hung_up", "Twilio sent stop");
      case "dtmf":
        this.#log.info(`DTMF ${message.digit} on ${this.#callLabel}`);
        return;
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

  #onStart(start: StreamStart): void {
    if (this.#start !== undefined) {
      this.#malformed("second start message");
      return;
    }
    clearTimeout(this.#startTimer);
    this.#start = start;
    this.#frames = new TwilioFrames(start.streamSid);
    const fail = (detail: string) => {
      this.#log.info(`Stream started: CallSid=${start.callSid}`);
      this.#end("error", detail);
    };

    const requested = start.customParameters.persona ?? this.#o.defaultPersona;
    const persona = this.#o.personas.get(requested) ?? this.#o.personas.get(this.#o.defaultPersona);
    if (persona === undefined) return fail(`default persona "${this.#o.defaultPersona}" is not loaded`);
    const model = persona.persona.model ?? this.#o.defaultModel;
    let instructions: string;
    try {
      instructions = renderInstructions(persona, {
        parameters: start.customParameters,
        callSid: start.callSid,
        streamSid: start.streamSid,
      });
    } catch (error) {
      return fail((error as Error).message);
    }
    if (model !== this.#upstreamModel) {
      // The model is fixed per session: replace the socket opened ahead of `start`.
      const old = this.#upstream;
      this.#upstream = undefined;
      old?.close();
      this.#openUpstream(model);
    }
    // Ahead of any caller audio, without waiting for session.updated: no dead air at the start.
    // A per-call voice (the webhook's `voice` parameter) replaces the persona's when the engine has it.
    const voice = start.customParameters.voice;
    const spoken = voice !== undefined && voiceProblem(voice, engineForModel(model)) === undefined
      ? { ...persona.persona, voice: voice as RealtimeVoice }
      : persona.persona;
    this.#pending.unshift(sessionUpdateEvent(spoken, { model, instructions }));
    if (persona.persona.greeting !== undefined) {
      this.#pending.splice(1, 0, responseCreateEvent(`${instructions}\n\n${persona.persona.greeting}`));
    }
    if (this.#upstreamOpen) {
      for (const message of this.#pending) this.#upstream!.send(message);
      this.#pending = [];
    }

    // Bookkeeping after the sends: logging and recording stay off the path to the first audio.
    this.#persona = persona;
    this.#log.info(`Stream started: CallSid=${start.callSid}`);
    if (persona.id !== requested) {
      this.#log.warn(`Unknown persona "${requested}" for CallSid=${start.callSid}: using "${persona.id}"`);
    }
    this.#emit({
      type: "call.started",
      streamSid: start.streamSid,
      persona: persona.id,
      model,
      parameters: { ...start.customParameters },
    });
    this.#announceConnected();
  }

  // ── The end ─────────────────────────────────────────────────────────────────────────────────

  #emit(event: DistributiveOmit<Parameters<CallEventListener>[0], "at" | "callSid">): void {
    if (this.#start === undefined) return;
    this.#o.onEvent(
      { ...event, at: this.#wall(), callSid: this.#start.callSid } as Parameters<CallEventListener>[0],
    );
  }

  #end(reason: EndReason, detail: string): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#startTimer);
    clearTimeout(this.#gateTimer);
    const upstream = this.#upstream;
    this.#upstream = undefined;
    this.#upstreamOpen = false;
    upstream?.close();
    this.#pending = [];
    if (this.#twilio.readyState === WebSocket.OPEN || this.#twilio.readyState === WebSocket.CONNECTING) {
      // Closing hands the call back to Twilio, which plays the fallback verb after <Connect>.
      try {
        this.#twilio.close(1000);
      } catch { /* already closing */ }
    }
    if (this.#turn?.sentAt !== undefined) this.#finishTurn(this.#turn, undefined);
    const line = `Call ended: ${this.#callLabel} reason=${reason} (${detail})`;
    if (reason === "caller_hung_up" || reason === "server_shutdown") this.#log.info(line);
    else this.#log.error(line);
    this.#emit({ type: "call.ended", reason, detail });
    this.#resolveDone();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
