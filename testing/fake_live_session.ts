/**
 * One GPT-Live session as FakeLiveServer plays it (see `fake_live.ts` for what it promises): the
 * session lifecycle and the refusals. The scripted voice — agent speech, caller-speech detection,
 * transcripts, tool calls — is in `fake_live_voice.ts`.
 *
 * @module
 */

import { checkClientEvent, fail, type LiveWireError } from "./live_schema.ts";
import { type LiveScript, LiveVoice } from "./fake_live_voice.ts";

export type { LiveScript, LiveUtterance } from "./fake_live_voice.ts";

const AUDIO_PREFIX = '{"type":"session.input_audio.append","audio":"';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Most client-supplied instruction tokens, per the types (estimated here at 4 characters a token). */
const INSTRUCTIONS_TOKEN_LIMIT = 16_384;

/** A client event the fake received, with its arrival time (performance.now). */
export interface ReceivedLiveEvent {
  type: string;
  at: number;
  /** The code of the `error` the fake answered with, if it refused the event. */
  refused?: string;
  // deno-lint-ignore no-explicit-any
  [key: string]: any;
}

/** One primary WebSocket session. */
export class FakeLiveSession {
  /** Client events received, in order; accepted audio appends only when `recordAudio` is on. */
  readonly received: ReceivedLiveEvent[] = [];
  /** `error` events sent, in order. */
  readonly errorsSent: LiveWireError[] = [];
  /** Caller audio received after `session.started`: frames and bytes. */
  readonly audioIn = { frames: 0, bytes: 0 };
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  /** The id sent in `session.started`, once started. */
  sessionId: string | undefined;
  /** The accepted `session.start` configuration. */
  // deno-lint-ignore no-explicit-any
  config: Record<string, any> | undefined;
  /** The scripted voice: speak, stop, caller transcripts, tool calls. */
  readonly voice: LiveVoice;
  readonly #socket: WebSocket;
  readonly #script: LiveScript;
  #startedAt = 0;
  #eventCounter = 0;
  #usageTimer: ReturnType<typeof setInterval> | undefined;
  #waiters: { match: (e: ReceivedLiveEvent) => boolean; resolve: (e: ReceivedLiveEvent) => void }[] = [];

  constructor(socket: WebSocket, script: LiveScript) {
    this.#socket = socket;
    this.#script = script;
    this.voice = new LiveVoice(this, script);
    let closed!: () => void;
    this.closed = new Promise((resolve) => closed = resolve);
    socket.onclose = () => {
      clearInterval(this.#usageTimer);
      this.voice.stopSpeaking();
      closed();
    };
    socket.onmessage = (message) => this.#onMessage(message.data);
  }

  /** True once `session.started` went out. */
  get started(): boolean {
    return this.sessionId !== undefined;
  }

  /** True while the socket is open. */
  get open(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  /** Now on the session timeline: ms since `session.started`. */
  timelineMs(): number {
    return this.started ? Math.round(performance.now() - this.#startedAt) : 0;
  }

  /** The seconds usage reports claim from now on, when a test sets them; the session's time otherwise. */
  billedSeconds: number | undefined;

  /** Cumulative session seconds, as usage reports them. */
  usageSeconds(): number {
    return this.billedSeconds ?? Math.round(this.timelineMs() / 100) / 10;
  }

  /** Events of `type` received so far. */
  eventsOf(type: string): ReceivedLiveEvent[] {
    return this.received.filter((e) => e.type === type);
  }

  /** Resolves with the first event (received or future) of `type` that matches. */
  waitFor(type: string, match: (e: ReceivedLiveEvent) => boolean = () => true): Promise<ReceivedLiveEvent> {
    const full = (e: ReceivedLiveEvent) => e.type === type && match(e);
    const found = this.received.find(full);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => this.#waiters.push({ match: full, resolve }));
  }

  /** Sends one server event (an `event_id` is added); false when the socket is gone. */
  send(event: Record<string, unknown>): boolean {
    return this.sendText(JSON.stringify({ event_id: `event_${++this.#eventCounter}`, ...event }));
  }

  /** Sends one prebuilt text message; false when the socket is gone. */
  sendText(text: string): boolean {
    if (this.#socket.readyState !== WebSocket.OPEN) return false;
    this.#socket.send(text);
    return true;
  }

  /** Sends a binary frame (hostile-input tests); false when the socket is gone. */
  sendBinary(bytes: Uint8Array): boolean {
    if (this.#socket.readyState !== WebSocket.OPEN) return false;
    this.#socket.send(bytes);
    return true;
  }

  /**
   * Sends one `session.output_audio.delta` carrying `payload` (base64, the session's format) as is:
   * the bench's way to send frames that carry their own identity.
   */
  sendAudioDelta(payload: string): boolean {
    return this.sendText(
      `{"type":"session.output_audio.delta","event_id":"event_${++this.#eventCounter}","delta":"${payload}"}`,
    );
  }

  /** Sends `session.usage.updated` with the cumulative seconds. */
  sendUsage(): void {
    this.send({ type: "session.usage.updated", usage: { seconds: this.usageSeconds() } });
  }

  /** Ends the session from the server side with `reason` (e.g. `expired`), as GPT-Live does. */
  closeSession(reason = "expired"): void {
    this.voice.stopSpeaking();
    if (this.started) {
      this.send({
        type: "session.closed",
        reason,
        session: this.#resource(),
        usage: { seconds: this.usageSeconds() },
      });
    }
    if (this.open) this.#socket.close(1000);
  }

  /** Drops the connection without `session.closed` (a lost connection; 1011 unless told). */
  drop(code = 1011): void {
    this.voice.stopSpeaking();
    if (this.open) this.#socket.close(code);
  }

  #onMessage(data: unknown): void {
    const at = performance.now();
    if (this.#script.recordAudio === false && typeof data === "string" && this.#fastAudio(data, at)) return;
    let event: Record<string, unknown>;
    try {
      if (typeof data !== "string") throw new Error("binary");
      event = JSON.parse(data);
    } catch {
      const error = typeof data === "string"
        ? fail("invalid_json", "The event could not be parsed as JSON.", undefined)
        : fail("invalid_type", "Binary frames are not accepted: send JSON text events.", undefined);
      this.#refuse({ type: "(unparsable)", at }, error);
      return;
    }
    const isAudio = event.type === "session.input_audio.append";
    const received = { ...event, type: String(event.type), at } as ReceivedLiveEvent;
    const error = checkClientEvent(event) ?? this.#checkState(event);
    // Refused events are always kept; accepted audio only when recording it.
    if (!isAudio || this.#script.recordAudio !== false || error !== undefined) this.received.push(received);
    if (error !== undefined) {
      this.#refuse(received, error);
    } else {
      this.#handle(received);
    }
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(received)) return true;
      w.resolve(received);
      return false;
    });
  }

  /**
   * The bench's hot path: a well-formed audio append of a started session, recognised without
   * JSON.parse (the schema would accept it: only `type` and a base64 `audio`). Anything else takes
   * the full path.
   */
  #fastAudio(text: string, at: number): boolean {
    if (!this.started || !text.startsWith(AUDIO_PREFIX) || !text.endsWith('"}')) return false;
    const audio = text.slice(AUDIO_PREFIX.length, -2);
    if (audio.length % 4 !== 0 || !BASE64.test(audio)) return false;
    this.#heard(audio, at);
    return true;
  }

  #heard(audio: string, at: number): void {
    this.audioIn.frames++;
    this.audioIn.bytes += audio.length / 4 * 3 - (audio.endsWith("==") ? 2 : audio.endsWith("=") ? 1 : 0);
    this.#script.onCallerAudio?.(audio, at);
    this.voice.hearCaller(audio);
  }

  #checkState(event: Record<string, unknown>): LiveWireError | undefined {
    if (event.type === "session.start") {
      if (this.started) return fail("session_already_started", "The session has already started.", "type");
      // deno-lint-ignore no-explicit-any
      const instructions = (event.session as Record<string, any>).instructions;
      if (typeof instructions === "string" && Math.ceil(instructions.length / 4) > INSTRUCTIONS_TOKEN_LIMIT) {
        return fail(
          "string_above_max_length",
          `Invalid 'session.instructions': longer than ${INSTRUCTIONS_TOKEN_LIMIT} tokens.`,
          "session.instructions",
        );
      }
      return undefined;
    }
    if (!this.started) {
      return fail(
        "session_not_started",
        `Send session.start and wait for session.started before '${event.type}'.`,
        "type",
      );
    }
    return this.voice.checkCommand(event);
  }

  #refuse(received: ReceivedLiveEvent, error: LiveWireError): void {
    received.refused = error.code;
    this.errorsSent.push(error);
    const clientEventId = typeof received.event_id === "string" ? received.event_id : undefined;
    const correlation = clientEventId === undefined ? {} : { client_event_id: clientEventId };
    this.send({ type: "error", ...correlation, error: { ...error, ...correlation } });
  }

  #handle(event: ReceivedLiveEvent): void {
    switch (event.type) {
      case "session.start":
        return this.#start(event);
      case "session.input_audio.append":
        return this.#heard(event.audio, event.at);
      case "session.close":
        this.voice.stopSpeaking();
        this.send({
          type: "session.closed",
          reason: "close_requested",
          session: this.#resource(),
          usage: { seconds: this.usageSeconds() },
          ...this.#echo(event),
        });
        this.#socket.close(1000);
        return;
      default:
        return this.voice.command(event, this.#echo(event));
    }
  }

  #start(event: ReceivedLiveEvent): void {
    this.config = event.session;
    this.sessionId = `sess_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
    this.#startedAt = performance.now();
    this.send({ type: "session.started", session: this.#resource(), ...this.#echo(event) });
    const interval = this.#script.usageIntervalMs ?? 1000;
    if (interval > 0) this.#usageTimer = setInterval(() => this.sendUsage(), interval);
  }

  /** The `client_event_id` of a reply to `event`, when it had an `event_id`. */
  #echo(event: ReceivedLiveEvent): { client_event_id?: string } {
    return typeof event.event_id === "string" ? { client_event_id: event.event_id } : {};
  }

  /** The resolved `SessionResource`: the start config with server defaults and metadata. */
  #resource(): Record<string, unknown> {
    const config = this.config ?? {};
    return {
      ...config,
      id: this.sessionId,
      status: "active",
      expires_at: Math.floor(Date.now() / 1000) + 3600,
      audio: {
        format: config.audio?.format ?? { type: "audio/pcm", rate: 24000 },
        output: { voice: config.audio?.output?.voice ?? "marin" },
      },
      store: config.store ?? false,
    };
  }
}
