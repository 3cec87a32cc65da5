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
 * @module
 */

import { excerpt } from "../log.ts";
import type { Engine, EngineEvent, SessionOpening } from "../engines/engine.ts";
import type { Upstream, UpstreamConnector, UpstreamFailure } from "../engines/upstream_socket.ts";

/** What a session reports. After `onEnd` nothing more is reported. */
export interface UpstreamSessionHandlers {
  /** The socket opened after `connectMs`. */
  onOpen(connectMs: number): void;
  /** One upstream message, read by the engine. */
  onEvent(event: EngineEvent): void;
  /** The session is over: refused at the handshake, or closed by the server. */
  onEnd(reason: "upstream_refused" | "upstream_dropped", detail: string): void;
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
  #handlers: UpstreamSessionHandlers;
  readonly #upstream: Upstream;
  #open = false;
  #ready = false;
  #closed = false;
  #opening: SessionOpening | undefined;
  /** Messages waiting for the session to be ready, in order. */
  #pending: string[] = [];

  /** Starts the handshake at once. */
  constructor(options: UpstreamSessionOptions) {
    this.engine = options.engine;
    this.model = options.model;
    this.#handlers = options.handlers;
    const { now } = options;
    const openedAt = now();
    this.#upstream = options.connect({ url: this.engine.sessionUrl(this.model), apiKey: options.apiKey }, {
      onOpen: () => {
        if (this.#closed) return;
        this.#open = true;
        this.#sendOpening();
        this.#handlers.onOpen(now() - openedAt);
      },
      onMessage: (text) => {
        if (this.#closed) return;
        const event = this.engine.parse(text);
        if (event.type === "session.ready" && !this.#ready && this.#opening !== undefined) {
          this.#becomeReady();
        }
        this.#handlers.onEvent(event);
      },
      onClose: (code, reason) => {
        if (this.#closed) return;
        this.#closed = true;
        this.#handlers.onEnd(
          "upstream_dropped",
          `OpenAI closed the connection (${code}${reason ? ` ${excerpt(reason)}` : ""})`,
        );
      },
      onFailure: (failure: UpstreamFailure) => {
        if (this.#closed) return;
        this.#closed = true;
        this.#handlers.onEnd("upstream_refused", failure.message);
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

  /** Gives the session its opening; sent at once if the socket is open. Once per session. */
  configure(opening: SessionOpening): void {
    if (this.#opening !== undefined) throw new Error("The upstream session is already configured");
    this.#opening = opening;
    if (this.#open && !this.#closed) this.#sendOpening();
  }

  /** Sends one caller frame (base64 μ-law, untouched), or queues it until the session is ready. */
  sendAudio(payload: string): void {
    const message = this.engine.audioMessage(payload);
    if (this.#ready) this.#upstream.send(message);
    else if (!this.#closed) this.#pending.push(message);
  }

  /** Sends one command, or queues it until the session is ready. */
  send(message: string): void {
    if (this.#ready) this.#upstream.send(message);
    else if (!this.#closed) this.#pending.push(message);
  }

  /** Ends the session (politely where the engine has a closing message). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const goodbye = this.#ready ? this.engine.closeMessage() : undefined;
    if (goodbye !== undefined) this.#upstream.send(goodbye);
    this.#pending = [];
    this.#upstream.close();
  }

  #sendOpening(): void {
    const opening = this.#opening;
    if (opening === undefined) return;
    for (const message of opening.first) this.#upstream.send(message);
    if (!this.engine.capabilities.waitsForSession) this.#becomeReady();
  }

  #becomeReady(): void {
    this.#ready = true;
    for (const message of this.#opening?.afterReady ?? []) this.#upstream.send(message);
    for (const message of this.#pending) this.#upstream.send(message);
    this.#pending = [];
  }
}
