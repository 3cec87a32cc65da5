/**
 * The {@linkcode CallControl} channel over Postgres: a command is a `NOTIFY` on
 * {@linkcode CONTROL_CHANNEL} whose payload is the command as JSON with the sender's instance; every
 * instance `LISTEN`s and hands the other instances' commands to its listeners. A command is for the
 * moment (end this call now): one sent while an instance's connection is down is not replayed.
 *
 * @module
 */

import type { Sql } from "postgres";
import {
  type CallCommand,
  type CallCommandListener,
  type CallControl,
  parseCallCommand,
} from "../../calls/call_control.ts";
import { errorText } from "../../log.ts";

/** The channel commands travel on. */
export const CONTROL_CHANNEL = "parley_call_control";

/** Call control between the instances on one Postgres database. */
export class PostgresCallControl implements CallControl {
  readonly #sql: Sql;
  readonly #instance: string;
  readonly #onError: (message: string) => void;
  readonly #listeners = new Set<CallCommandListener>();
  #unlisten: (() => Promise<void>) | undefined;

  constructor(sql: Sql, instance: string, onError: (message: string) => void) {
    this.#sql = sql;
    this.#instance = instance;
    this.#onError = onError;
  }

  /** Starts listening; resolves once the `LISTEN` is in place. */
  async start(): Promise<void> {
    const meta = await this.#sql.listen(CONTROL_CHANNEL, (payload) => this.#heard(payload));
    this.#unlisten = meta.unlisten;
  }

  async send(command: CallCommand): Promise<void> {
    const payload = JSON.stringify({ ...command, from: this.#instance });
    await this.#sql`SELECT pg_notify(${CONTROL_CHANNEL}, ${payload})`;
  }

  listen(listener: CallCommandListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops listening. */
  async close(): Promise<void> {
    this.#listeners.clear();
    await this.#unlisten?.();
    this.#unlisten = undefined;
  }

  #heard(payload: string): void {
    let value: unknown;
    try {
      value = JSON.parse(payload);
    } catch {
      this.#onError(`[Cluster] A call command on ${CONTROL_CHANNEL} is not JSON: ignored`);
      return;
    }
    if ((value as { from?: unknown } | null)?.from === this.#instance) return;
    const command = parseCallCommand(value);
    if (typeof command === "string") {
      this.#onError(`[Cluster] A call command on ${CONTROL_CHANNEL} was ignored: ${command}`);
      return;
    }
    for (const listener of [...this.#listeners]) {
      try {
        listener(command);
      } catch (error) {
        this.#onError(
          `[Cluster] Acting on ${command.type} for CallSid=${command.callSid} failed: ${errorText(error)}`,
        );
      }
    }
  }
}
