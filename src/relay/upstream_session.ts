/**
 * One upstream session of a call: the socket to an engine, opened as early as possible, with the
 * messages sent before it is ready queued in order.
 *
 * The order on the wire is always: the engine's opening (`first`), then — once the session is ready
 * (at once on engines that do not wait, at `session.ready` on those that do) — the `afterReady`
 * messages, then everything queued, in the order it was queued. A session can be opened before the
 * relay knows the persona (the opening is given later with {@linkcode UpstreamSession.configure}),
 * and its handlers can be replaced, so a session opened ahead of the call can be handed over.
 *
 * Closing sends the engine's goodbye where it has one (GPT-Live's `session.close`) and waits up to
 * {@linkcode CLOSE_GRACE_MS} for the server's answer before closing the socket.
 *
 * @module
 */

import { excerpt } from "../log.ts";
import type { Engine, EngineEvent, EngineReader, SessionOpening } from "../engines/engine.ts";
import type { Upstream, UpstreamConnector, UpstreamFailure } from "../engines/upstream_socket.ts";

/** How long a polite close waits for the server's `session.closed`. */
export const CLOSE_GRACE_MS = 1000;

/** Caller frames kept while the session is not ready: ~2 s of 20 ms frames; the oldest go first. */
export const MAX_QUEUED_FRAMES = 100;

/** Unsent bytes on the upstream socket above which a caller frame is dropped (~5 s of audio). */
export const MAX_BUFFERED_BYTES = 64 * 1024;

/** How often engines that need it are given the time (transcript turns that end in silence). */
export const IDLE_INTERVAL_MS = 100;

/**
 * Why a session ended on its own: OpenAI refused it (an HTTP answer), could not be reached (no
 * answer at all), or closed it once open.
 */
export type UpstreamEndReason = "upstream_refused" | "upstream_unreachable" | "upstream_dropped";

/** What a session reports. After `onEnd` (or `close()`) nothing more is reported. */
export interface UpstreamSessionHandlers {
  /** The socket opened after `connectMs`. */
  onOpen(connectMs: number): void;
  /**
   * One event read by the engine; after {@linkcode UpstreamSession.close}, only usage reports (the
   * server's answer to a polite goodbye carries the session's final one, and it is billed).
   */
  onEvent(event: EngineEvent): void;
  /** The session is over: refused at the handshake, or closed by the server. */
  onEnd(reason: UpstreamEndReason, detail: string): void;
}

/** What opening a session needs. */
export interface UpstreamSessionOptions {
  engine: Engine;
  model: string;
  apiKey: string;
  connect: UpstreamConnector;
  handlers: UpstreamSessionHandlers;
  /** Monotonic clock, ms. */
  now: () => number;
}

/**
 * An upstream session, open or opening.
 *
 * @example
 * ```ts
 * const session = new UpstreamSession({ engine, model, apiKey, connect, handlers, now });
 * session.configure(engine.opening(plan));
 * session.sendAudio(payload); // queued until ready
 * ```
 */
export class UpstreamSession {
  /** The engine this session speaks. */
  readonly engine: Engine;
  /** The model it runs. */
  readonly model: string;
  /** Resolves once the socket is closed or abandoned after {@linkcode close} or the end. */
  readonly closed: Promise<void>;
  #handlers: UpstreamSessionHandlers;
  readonly #upstream: Upstream;
  readonly #reader: EngineReader;
  readonly #now: () => number;
  readonly #emit = (event: EngineEvent) => this.#handlers.onEvent(event);
  #open = false;
  #ready = false;
  #ended = false;
  #opening: SessionOpening | undefined;
  /** Messages waiting for the session to be ready, in order. */
  #pending: string[] = [];
  /** Which of `#pending` are caller audio (droppable), by index. */
  #pendingAudio: boolean[] = [];
  #queuedFrames = 0;
  /** Where messages sent after the end go ({@linkcode forwardTo}); dropped without one. */
  #forward: ((message: string) => void) | undefined;
  #idleTimer: ReturnType<typeof setInterval> | undefined;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #resolveClosed!: () => void;

  /** Starts the handshake at once. */
  constructor(options: UpstreamSessionOptions) {
    this.engine = options.engine;
    this.model = options.model;
    this.#handlers = options.handlers;
    this.#now = options.now;
    this.#reader = this.engine.reader(options.now);
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    const openedAt = this.#now();
    const request = {
      url: this.engine.sessionUrl(this.model),
      apiKey: options.apiKey,
      engine: this.engine.id,
    };
    this.#upstream = options.connect(request, {
      onOpen: () => {
        if (this.#ended) return;
        this.#open = true;
        this.#sendOpening();
        this.#handlers.onOpen(this.#now() - openedAt);
      },
      onMessage: (text) => this.#onMessage(text),
      onClose: (code, reason) => {
        this.#finishClose();
        if (this.#ended) return;
        this.#end(
          "upstream_dropped",
          `OpenAI closed the connection (${code}${reason ? ` ${excerpt(reason)}` : ""})`,
        );
      },
      onFailure: (failure: UpstreamFailure) => {
        this.#finishClose();
        const reason = failure.status === undefined ? "upstream_unreachable" : "upstream_refused";
        if (!this.#ended) this.#end(reason, failure.message);
      },
    });
  }

  /** Replaces the handlers (a session opened ahead of its call is handed to the call's relay). */
  attach(handlers: UpstreamSessionHandlers): void {
    this.#handlers = handlers;
  }

  /** True once the socket is open. */
  get open(): boolean {
    return this.#open;
  }

  /**
   * True once the session is over (closed, or lost): what it still reports is its reader's flush of
   * what was under way (e.g. GPT-Live's run of audio ended), not the server's word.
   */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * True while a polite close waits for the server's answer (GPT-Live's `session.closed`, which
   * carries the session's final usage): at most {@linkcode CLOSE_GRACE_MS}, then {@linkcode closed}.
   */
  get closing(): boolean {
    return this.#graceTimer !== undefined;
  }

  /** Gives the session its opening; sent at once if the socket is open. Once per session. */
  configure(opening: SessionOpening): void {
    if (this.#opening !== undefined) throw new Error("The upstream session is already configured");
    this.#opening = opening;
    if (this.#open && !this.#ended) this.#sendOpening();
  }

  /**
   * Sends one caller frame (base64 μ-law, untouched), or queues it until the session is ready.
   * Returns why a frame was dropped: `queue` (the queue held {@linkcode MAX_QUEUED_FRAMES}, the
   * oldest went) or `backpressure` (the socket holds over {@linkcode MAX_BUFFERED_BYTES} unsent).
   */
  sendAudio(payload: string): "queue" | "backpressure" | undefined {
    if (this.#ready) {
      if ((this.#upstream.bufferedAmount ?? 0) > MAX_BUFFERED_BYTES) return "backpressure";
      this.#upstream.send(this.engine.audioMessage(payload));
      return undefined;
    }
    if (this.#ended) return undefined;
    this.#pending.push(this.engine.audioMessage(payload));
    this.#pendingAudio.push(true);
    if (++this.#queuedFrames <= MAX_QUEUED_FRAMES) return undefined;
    const oldest = this.#pendingAudio.indexOf(true);
    this.#pending.splice(oldest, 1);
    this.#pendingAudio.splice(oldest, 1);
    this.#queuedFrames--;
    return "queue";
  }

  /**
   * Sends one command, or queues it until the session is ready. After the end it goes where
   * {@linkcode forwardTo} said (the call's next session), or nowhere.
   */
  send(message: string): void {
    if (this.#ready) this.#upstream.send(message);
    else if (!this.#ended) {
      this.#pending.push(message);
      this.#pendingAudio.push(false);
    } else this.#forward?.(message);
  }

  /**
   * The session is over and the call waits for a new one: commands sent to this one from now on go
   * to `sink` (which holds them for the new session) instead of being lost.
   */
  forwardTo(sink: (message: string) => void): void {
    this.#forward = sink;
  }

  /**
   * Ends the session: politely where the engine has a goodbye (then the socket closes when the
   * server answers, or after {@linkcode CLOSE_GRACE_MS}), at once otherwise. Reports nothing more,
   * except what the reader still held (an unfinished transcript turn) and the usage the server still
   * reports (GPT-Live's `session.closed` carries the session's final billed seconds). Idempotent.
   */
  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    const goodbye = this.#ready ? this.engine.closeMessage() : undefined;
    this.#ready = false; // nothing more goes on the socket but the goodbye
    this.#stopIdle();
    this.#clearPending();
    if (this.#opening !== undefined) this.#reader.flush(this.#emit);
    if (goodbye === undefined) {
      this.#upstream.close();
      this.#finishClose();
      return;
    }
    this.#upstream.send(goodbye);
    this.#graceTimer = setTimeout(() => {
      this.#upstream.close();
      this.#finishClose();
    }, CLOSE_GRACE_MS);
  }

  #onMessage(text: string): void {
    if (this.#ended) {
      // Closing politely: the server's `session.closed` is the cue to close the socket; the final
      // usage it carries is billed, so it still goes to the call (the call's cost adds it up).
      this.#reader.read(text, (event) => {
        if (event.type === "usage") this.#handlers.onEvent(event);
        else if (event.type === "session.closed") this.#upstream.close();
      });
      return;
    }
    this.#reader.read(text, this.#onEvent);
  }

  /** One event the reader read (made once per session: no closure per message). */
  readonly #onEvent = (event: EngineEvent): void => {
    if (this.#ended) return;
    if (event.type === "session.ready" && !this.#ready && this.#opening !== undefined) this.#becomeReady();
    if (event.type === "session.closed") this.#ready = false; // no goodbye to a session already over
    this.#handlers.onEvent(event);
  };

  #sendOpening(): void {
    const opening = this.#opening;
    if (opening === undefined) return;
    for (const message of opening.first) this.#upstream.send(message);
    this.#reader.openingSent(this.#now());
    if (this.engine.capabilities.needsIdle) {
      this.#idleTimer = setInterval(() => this.#reader.idle(this.#emit), IDLE_INTERVAL_MS);
    }
    if (!this.engine.capabilities.waitsForSession) this.#becomeReady();
  }

  #becomeReady(): void {
    this.#ready = true;
    for (const message of this.#opening?.afterReady ?? []) this.#upstream.send(message);
    for (const message of this.#pending) this.#upstream.send(message);
    this.#clearPending();
  }

  #end(reason: UpstreamEndReason, detail: string): void {
    this.#ended = true;
    this.#ready = false;
    this.#stopIdle();
    this.#clearPending();
    if (this.#opening !== undefined) this.#reader.flush(this.#emit);
    this.#handlers.onEnd(reason, detail);
  }

  #clearPending(): void {
    this.#pending = [];
    this.#pendingAudio = [];
    this.#queuedFrames = 0;
  }

  #stopIdle(): void {
    clearInterval(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  #finishClose(): void {
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    this.#resolveClosed();
  }
}
