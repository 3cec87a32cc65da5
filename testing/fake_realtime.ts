/**
 * FakeRealtimeServer: a scripted OpenAI Realtime server on 127.0.0.1, port 0.
 *
 * Behaves like the real one where the relay can tell: answers `session.created` on connect and
 * `session.updated` to each `session.update`, streams audio faster than real time, and after a
 * `response.cancel` still sends a few deltas that were "in flight" before `response.done`
 * (status `cancelled`). It can refuse the handshake (401) or open slowly. A response may end with
 * function calls, streamed as the real server does (`output_item.added`, argument deltas,
 * `…arguments.done`, `output_item.done`, all before `response.done`); a `response.create` while a
 * response is in progress is refused with `conversation_already_has_active_response`. Its VAD's
 * `speech_stopped` is followed by `input_audio_buffer.committed`, as OpenAI's is; a client's
 * `input_audio_buffer.commit` becomes the item the caller's speech was to become, and one of under
 * 100 ms of appended audio is refused with `input_audio_buffer_commit_empty`.
 * It can also drop a session mid-call (`drop()`: 1011, no error) or end it at the 60-minute cap
 * (`expire()`: `session_expired`, then 1001).
 *
 * Tests and the bench share it. In bench mode (`benchDriver`) a session records nothing and parses
 * nothing: it answers `session.created` on open and hands each client message, as it came, to the
 * driver (`bench/_realtime_upstream.ts`), which plays the model cheaply on a 20 ms grid.
 *
 * @module
 */

/** A client event the fake received, with its arrival time (performance.now). */
export interface ReceivedEvent {
  type: string;
  at: number;
  // deno-lint-ignore no-explicit-any
  [key: string]: any;
}

/** Options of {@linkcode FakeRealtimeServer.start}. */
export interface FakeRealtimeOptions {
  /** Answer the handshake with this HTTP status instead of upgrading. */
  refuseWith?: number;
  /** Time every handshake takes before the upgrade, ms (TLS + upgrade; the bench). @default 0 */
  handshakeDelayMs?: number;
  /**
   * Answer the first `response.create` on its own: `audio` streamed (100 ms deltas, 10 ms apart)
   * after `delayMs`, the model's time to first audio (the bench).
   */
  greeting?: { audio: Uint8Array; delayMs: number };
  /**
   * Bench mode: called with each new session; returns what handles its client messages (the raw
   * message data and when it was read, performance.now). The session then records nothing, parses
   * nothing and answers nothing but `session.created`; `close()` stops waiting for unanswered
   * close handshakes after 5 s.
   */
  benchDriver?: (session: FakeRealtimeSession) => (data: unknown, at: number) => void;
}

/** One scripted response to stream. */
export interface ScriptedResponse {
  responseId: string;
  itemId: string;
  /** μ-law bytes of the answer. */
  audio: Uint8Array;
  /** Bytes per delta. @default 800 (100 ms) */
  chunkBytes?: number;
  /** Pause between deltas, ms; below the chunk's duration = faster than real time. @default 10 */
  intervalMs?: number;
  /** Sent as `response.output_audio_transcript.done`. */
  transcript?: string;
  /**
   * The transcript waits, after the audio, until this settles: e.g. until the answer's playback has
   * begun, as on a long answer of OpenAI's, whose transcript comes after the caller began hearing it.
   */
  transcriptAfter?: Promise<unknown>;
  /** Deltas still sent after a `response.cancel` arrives. @default 3 */
  inFlightAfterCancel?: number;
  /** Usage reported in `response.done`. */
  usage?: Record<string, unknown>;
  /** Function calls the response makes after its audio. */
  functionCalls?: ScriptedFunctionCall[];
}

/** One function call of a scripted response. */
export interface ScriptedFunctionCall {
  callId: string;
  name: string;
  /** JSON text, streamed in a few deltas. */
  arguments: string;
}

/** A scripted Realtime server. */
export class FakeRealtimeServer {
  /** Every session opened, in order. */
  readonly sessions: FakeRealtimeSession[] = [];
  /** Handshakes seen (including refused ones): URL and Authorization header. */
  readonly handshakes: { url: string; authorization: string | null }[] = [];
  /** When set, the next handshakes wait for this promise before upgrading. */
  holdHandshake: Promise<void> | undefined;
  refuseWith: number | undefined;
  /** Answer `session.update` with `session.updated` (turn off to prove nothing waits for it). */
  answerSessionUpdate = true;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #waiters: (() => boolean)[] = [];
  readonly #bench: boolean;

  private constructor(options: FakeRealtimeOptions) {
    const delayMs = options.handshakeDelayMs ?? 0;
    this.#bench = options.benchDriver !== undefined;
    this.refuseWith = options.refuseWith;
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
      this.handshakes.push({ url: request.url, authorization: request.headers.get("authorization") });
      if (this.refuseWith !== undefined) {
        return new Response(JSON.stringify({ error: { message: "Incorrect API key provided" } }), {
          status: this.refuseWith,
        });
      }
      if (this.holdHandshake !== undefined) await this.holdHandshake;
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: 0 });
      const session = new FakeRealtimeSession(
        socket,
        request.url,
        this.answerSessionUpdate,
        options.greeting,
        options.benchDriver,
      );
      this.sessions.push(session);
      this.#waiters = this.#waiters.filter((check) => !check());
      return response;
    });
  }

  /** Starts a fake on a free port. */
  static start(options: FakeRealtimeOptions = {}): FakeRealtimeServer {
    return new FakeRealtimeServer(options);
  }

  /** Base URL to give Parley as `OPENAI_REALTIME_URL`. */
  get url(): string {
    return `ws://127.0.0.1:${this.#server.addr.port}/v1/realtime`;
  }

  /** Resolves with session number `index` (0-based) once it is open; default: the next new one. */
  session(index = this.sessions.length): Promise<FakeRealtimeSession> {
    return new Promise((resolve) => {
      const check = () => {
        const session = this.sessions[index];
        if (session !== undefined) resolve(session);
        return session !== undefined;
      };
      if (!check()) this.#waiters.push(check);
    });
  }

  /** Closes every session and the listener. */
  async close(): Promise<void> {
    for (const session of this.sessions) session.close();
    if (this.#bench) {
      // Hundreds of sessions on a loaded relay: give up on unanswered close handshakes after 5 s.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const shutdown = this.#server.shutdown();
      await Promise.race([shutdown, new Promise<void>((resolve) => timer = setTimeout(resolve, 5_000))]);
      clearTimeout(timer);
      return;
    }
    await Promise.all(this.sessions.map((s) => s.closed));
    await this.#server.shutdown();
  }
}

/** One upstream session as the fake sees it. */
export class FakeRealtimeSession {
  /** The URL Parley connected to (model in the query). */
  readonly url: string;
  /** Client events received, in order. */
  readonly received: ReceivedEvent[] = [];
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  readonly #socket: WebSocket;
  #waiters: {
    match: (e: ReceivedEvent) => boolean;
    resolve: (e: ReceivedEvent) => void;
    reject: (error: Error) => void;
    type: string;
  }[] = [];
  #cancelRequested = false;
  #eventCounter = 0;
  /** Caller audio appended since the buffer was last committed, ms (8 μ-law bytes a ms). */
  #uncommittedMs = 0;
  /** The item the caller's speech will become, from `speechStarted` to `speechStopped`. */
  #speakingItem: string | undefined;
  #commits = 0;
  /** The response being streamed, if any. */
  activeResponse: string | undefined;
  /**
   * The item a client's commit becomes. Unset, the one the caller's speech was to become (as its
   * `speech_started` said); set, a new one, for a relay that must follow the server's naming.
   */
  commitAs: string | undefined;

  constructor(
    socket: WebSocket,
    url: string,
    answerSessionUpdate: boolean,
    greeting?: FakeRealtimeOptions["greeting"],
    benchDriver?: FakeRealtimeOptions["benchDriver"],
  ) {
    this.url = url;
    this.#socket = socket;
    let closed!: () => void;
    this.closed = new Promise((resolve) => closed = resolve);
    let greetingTimer: ReturnType<typeof setTimeout> | undefined;
    socket.onclose = () => {
      clearTimeout(greetingTimer);
      closed();
      // Nothing more can arrive: a test waiting for it fails now, saying what it waited for, not hangs.
      for (const w of this.#waiters) {
        w.reject(new Error(`the fake Realtime session closed before ${w.type} came`));
      }
      this.#waiters = [];
    };
    socket.onopen = () => this.send({ type: "session.created", session: { type: "realtime" } });
    if (benchDriver !== undefined) {
      const handle = benchDriver(this);
      socket.onerror = () => {};
      socket.onmessage = (message) => handle(message.data, performance.now());
      return;
    }
    socket.onmessage = (message) => {
      const event = { ...JSON.parse(message.data as string), at: performance.now() } as ReceivedEvent;
      this.received.push(event);
      if (event.type === "session.update" && answerSessionUpdate) {
        this.send({ type: "session.updated", session: event.session });
      }
      if (event.type === "response.cancel") this.#cancelRequested = true;
      if (event.type === "input_audio_buffer.append" && typeof event.audio === "string") {
        const padding = event.audio.endsWith("==") ? 2 : event.audio.endsWith("=") ? 1 : 0;
        this.#uncommittedMs += ((event.audio.length / 4) * 3 - padding) / 8;
      }
      if (event.type === "input_audio_buffer.commit") this.#commit(event);
      if (event.type === "response.create" && this.activeResponse !== undefined) {
        this.send({
          type: "error",
          error: {
            type: "invalid_request_error",
            code: "conversation_already_has_active_response",
            message:
              `Conversation already has an active response in progress: ${this.activeResponse}. Wait until the response is finished before creating a new one.`,
            param: null,
            event_id: event.event_id ?? null,
          },
        });
      }
      if (
        event.type === "response.create" && greeting !== undefined &&
        this.eventsOf("response.create").length === 1
      ) {
        greetingTimer = setTimeout(() => {
          void this.streamResponse({
            responseId: "resp_greeting",
            itemId: "item_greeting",
            audio: greeting.audio,
          });
        }, greeting.delayMs);
      }
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.match(event)) return true;
        w.resolve(event);
        return false;
      });
    };
  }

  /** Events of `type` received so far. */
  eventsOf(type: string): ReceivedEvent[] {
    return this.received.filter((e) => e.type === type);
  }

  /** Resolves with the first event (already received or future) of `type` matching `match`. */
  waitFor(type: string, match: (e: ReceivedEvent) => boolean = () => true): Promise<ReceivedEvent> {
    const full = (e: ReceivedEvent) => e.type === type && match(e);
    const found = this.received.find(full);
    if (found !== undefined) return Promise.resolve(found);
    return settledLater((resolve, reject) => this.#waiters.push({ match: full, resolve, reject, type }));
  }

  /** True while the socket is open. */
  get open(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  /** Sends one server event already serialised (the bench's deltas), if the socket is open. */
  sendText(text: string): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(text);
  }

  /** Sends a binary frame (hostile-input tests), if the socket is open. */
  sendBinary(bytes: Uint8Array): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(bytes);
  }

  /** Sends one server event. */
  send(event: Record<string, unknown>): void {
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    this.#socket.send(JSON.stringify({ event_id: `event_${++this.#eventCounter}`, ...event }));
  }

  /** The server's VAD heard the caller start speaking. */
  speechStarted(itemId = "item_caller"): void {
    this.#speakingItem = itemId;
    this.send({ type: "input_audio_buffer.speech_started", audio_start_ms: 0, item_id: itemId });
  }

  /** The server's VAD heard the caller stop, and commits their audio as `itemId`, as OpenAI's does. */
  speechStopped(itemId = "item_caller"): void {
    this.#speakingItem = undefined;
    this.#uncommittedMs = 0;
    this.send({ type: "input_audio_buffer.speech_stopped", audio_end_ms: 0, item_id: itemId });
    this.send({ type: "input_audio_buffer.committed", previous_item_id: null, item_id: itemId });
  }

  /**
   * The client's `input_audio_buffer.commit`: the audio so far becomes an item (the one the caller's
   * speech was to become, if they are speaking), or, under 100 ms of it, OpenAI's refusal.
   */
  #commit(event: ReceivedEvent): void {
    if (this.#uncommittedMs < 100) {
      this.send({
        type: "error",
        error: {
          type: "invalid_request_error",
          code: "input_audio_buffer_commit_empty",
          message:
            `Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has ${
              this.#uncommittedMs.toFixed(2)
            }ms of audio.`,
          param: null,
          event_id: event.event_id ?? null,
        },
      });
      return;
    }
    const itemId = this.commitAs ?? this.#speakingItem ?? `item_commit_${++this.#commits}`;
    this.#speakingItem = undefined;
    this.#uncommittedMs = 0;
    this.send({ type: "input_audio_buffer.committed", previous_item_id: null, item_id: itemId });
  }

  /**
   * Opens a response with one assistant item, as {@linkcode streamResponse} does: `response.created`
   * and `response.output_item.added`. For a test that sends the item's audio on its own schedule
   * ({@linkcode sendAudio}).
   */
  beginResponse(responseId: string, itemId: string): void {
    this.activeResponse = responseId;
    this.send({ type: "response.created", response: { id: responseId, status: "in_progress" } });
    this.send({
      type: "response.output_item.added",
      response_id: responseId,
      item: { id: itemId, type: "message", role: "assistant" },
    });
  }

  /** One `response.output_audio.delta` of `audio` for the item. */
  sendAudio(responseId: string, itemId: string, audio: Uint8Array): void {
    this.send({
      type: "response.output_audio.delta",
      response_id: responseId,
      item_id: itemId,
      output_index: 0,
      content_index: 0,
      delta: toBase64(audio),
    });
  }

  /** `response.output_audio.done` for the item: all of its audio was sent. */
  endAudio(responseId: string, itemId: string): void {
    this.send({
      type: "response.output_audio.done",
      response_id: responseId,
      item_id: itemId,
      output_index: 0,
      content_index: 0,
    });
  }

  /**
   * Streams one response faster than real time. Resolves with the number of deltas sent once
   * `response.done` went out.
   */
  async streamResponse(script: ScriptedResponse): Promise<{ deltas: number; cancelled: boolean }> {
    const chunk = script.chunkBytes ?? 800;
    const interval = script.intervalMs ?? 10;
    let inFlight = script.inFlightAfterCancel ?? 3;
    this.#cancelRequested = false;
    this.beginResponse(script.responseId, script.itemId);
    let deltas = 0;
    let cancelled = false;
    const startedAt = performance.now();
    for (let offset = 0; offset < script.audio.length; offset += chunk) {
      if (this.#socket.readyState !== WebSocket.OPEN) break;
      if (this.#cancelRequested) {
        cancelled = true;
        if (inFlight-- <= 0) break;
      }
      this.sendAudio(script.responseId, script.itemId, script.audio.subarray(offset, offset + chunk));
      deltas++;
      // Paced by a schedule, not by one sleep a delta: a timer that fires late (a loaded machine) is
      // caught up at once, so the answer stays ahead of real time, as OpenAI's does.
      const wait = startedAt + deltas * interval - performance.now();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
    }
    this.endAudio(script.responseId, script.itemId);
    if (script.transcript !== undefined) {
      await script.transcriptAfter;
      this.send({
        type: "response.output_audio_transcript.done",
        response_id: script.responseId,
        item_id: script.itemId,
        output_index: 0,
        content_index: 0,
        transcript: script.transcript,
      });
    }
    for (const [index, call] of (script.functionCalls ?? []).entries()) {
      if (cancelled) break;
      await this.#streamFunctionCall(script.responseId, index + 1, call);
    }
    this.activeResponse = undefined;
    this.send({
      type: "response.done",
      response: {
        id: script.responseId,
        status: cancelled ? "cancelled" : "completed",
        status_details: cancelled ? { type: "cancelled", reason: "client_cancelled" } : null,
        usage: script.usage ?? null,
      },
    });
    return { deltas, cancelled };
  }

  /**
   * The 60-minute cap, as the real server reaches it: an `error` with code `session_expired`, then a
   * 1001 close. There is no resume.
   */
  expire(): void {
    this.send({
      type: "error",
      error: {
        type: "invalid_request_error",
        code: "session_expired",
        message: "Your session hit the maximum duration of 60 minutes.",
        param: null,
        event_id: null,
      },
    });
    this.close(1001, "session expired");
  }

  /** A lost connection mid-call: the socket closes with 1011 and no error event. */
  drop(): void {
    this.close(1011, "");
  }

  async #streamFunctionCall(
    responseId: string,
    outputIndex: number,
    call: ScriptedFunctionCall,
  ): Promise<void> {
    const itemId = `fc_${call.callId}`;
    const item = { id: itemId, type: "function_call", call_id: call.callId, name: call.name };
    this.send({
      type: "response.output_item.added",
      response_id: responseId,
      output_index: outputIndex,
      item: { ...item, status: "in_progress", arguments: "" },
    });
    const third = Math.ceil(call.arguments.length / 3) || 1;
    for (let at = 0; at < call.arguments.length; at += third) {
      this.send({
        type: "response.function_call_arguments.delta",
        response_id: responseId,
        item_id: itemId,
        output_index: outputIndex,
        call_id: call.callId,
        delta: call.arguments.slice(at, at + third),
      });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    this.send({
      type: "response.function_call_arguments.done",
      response_id: responseId,
      item_id: itemId,
      output_index: outputIndex,
      call_id: call.callId,
      name: call.name,
      arguments: call.arguments,
    });
    this.send({
      type: "response.output_item.done",
      response_id: responseId,
      output_index: outputIndex,
      item: { ...item, status: "completed", arguments: call.arguments },
    });
  }

  /** Closes the session from the server side. */
  close(code = 1000, reason = ""): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.close(code, reason);
  }
}

/** Base64 of bytes. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Bytes of base64. */
export function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** The usage report of a short answer, in the Realtime API's shape (a `response.done`'s `usage`). */
export const SHORT_ANSWER_USAGE = {
  input_tokens: 100,
  output_tokens: 50,
  input_token_details: { audio_tokens: 60, text_tokens: 40, cached_tokens: 0 },
  output_token_details: { audio_tokens: 40, text_tokens: 10 },
};

/** `ms` of μ-law audio filled with `value`, so a listener can tell whose audio it heard. */
export function toneBytes(ms: number, value: number): Uint8Array {
  return new Uint8Array(ms * 8).fill(value);
}

/**
 * A promise for a waiter that a close may reject: its rejection counts as handled here, so a test that
 * no longer awaits it (a lost race) does not fail on an unhandled rejection; one that awaits it gets it.
 */
export function settledLater<T>(
  executor: (resolve: (value: T) => void, reject: (error: Error) => void) => void,
): Promise<T> {
  const promise = new Promise<T>(executor);
  promise.catch(() => {});
  return promise;
}
