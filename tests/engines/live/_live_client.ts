/**
 * A bare GPT-Live client for the fake's own tests: opens a socket with headers, collects server
 * events, and waits for the next one of a type (bounded).
 *
 * @module
 */

import { within } from "../../../testing/within.ts";

/** A parsed server event with its arrival time. */
// deno-lint-ignore no-explicit-any
export type ServerMessage = { type: string; at: number; [key: string]: any };

/** One client socket to a (fake) GPT-Live server. */
export class LiveTestClient {
  readonly messages: ServerMessage[] = [];
  readonly closed: Promise<CloseEvent>;
  readonly #socket: WebSocket;
  #waiters: { type: string; from: number; resolve: (m: ServerMessage) => void }[] = [];

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    this.closed = new Promise((resolve) => socket.addEventListener("close", resolve));
    socket.onmessage = (event) => {
      const message = { ...JSON.parse(event.data as string), at: performance.now() } as ServerMessage;
      this.messages.push(message);
      const index = this.messages.length - 1;
      this.#waiters = this.#waiters.filter((w) => {
        if (w.type !== message.type || index < w.from) return true;
        w.resolve(message);
        return false;
      });
    };
  }

  /** Opens `url` with a bearer key (none when `apiKey` is null); resolves once open. */
  static async connect(url: string, apiKey: string | null = "sk-test"): Promise<LiveTestClient> {
    const headers: Record<string, string> = apiKey === null ? {} : { Authorization: `Bearer ${apiKey}` };
    const socket = new WebSocket(url, { headers });
    const client = new LiveTestClient(socket);
    await within(
      new Promise<void>((resolve, reject) => {
        socket.onopen = () => resolve();
        socket.onerror = () => reject(new Error(`Cannot open ${url}`));
      }),
      "the socket to open",
    );
    return client;
  }

  /** Sends a text message (a string as is, anything else as JSON). */
  send(event: unknown): void {
    this.#socket.send(typeof event === "string" ? event : JSON.stringify(event));
  }

  /** Resolves with the first message of `type` at or after index `from` (default: any so far). */
  next(type: string, from = 0, ms = 5_000): Promise<ServerMessage> {
    const found = this.messages.find((m, i) => i >= from && m.type === type);
    if (found !== undefined) return Promise.resolve(found);
    return within(new Promise((resolve) => this.#waiters.push({ type, from, resolve })), `"${type}"`, ms);
  }

  /** Messages of `type` received so far. */
  all(type: string): ServerMessage[] {
    return this.messages.filter((m) => m.type === type);
  }

  /** Closes the socket and waits for the close. */
  async close(): Promise<void> {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.close();
    await this.closed;
  }
}
