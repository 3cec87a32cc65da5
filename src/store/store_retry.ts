/**
 * Work that must reach the store after a call event: a webhook put in the outbox (built from the
 * call's record), an analysis queued (for the record's persona). While the store cannot be written (a
 * locked or full disk, a Postgres restart) such work fails, or reads a record that is behind the call
 * (its events wait in the store's memory). It is not dropped: it waits here, in order, bounded, and is
 * tried again with backoff until the store takes it. One failing stretch is reported once when it
 * starts and once when it ends; what is dropped (past the bound) or still waiting at shutdown is
 * logged, never lost silently.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { StoreHealth } from "./call_record.ts";
import { errorText } from "../log.ts";

/** Defaults of {@linkcode StoreRetry}. */
export const STORE_RETRY_DEFAULTS = {
  /** First retry after a failure, ms; doubles up to `maxRetryMs`. */
  firstRetryMs: 1_000,
  /** Longest wait between retries, ms. */
  maxRetryMs: 5_000,
  /** Pieces of work kept while the store fails (the oldest are dropped, and logged, beyond). */
  maxPending: 10_000,
} as const;

/** One piece of work: what it is (for the log), and the work, which throws to be tried again. */
export interface StoreJob {
  /** E.g. `call.ended of CA…`. */
  what: string;
  run(): Promise<void>;
}

/** Options of {@linkcode StoreRetry}. */
export interface StoreRetryOptions {
  log: Logger;
  /** Who logs, and the verb of its work: e.g. `{ subject: "Webhooks", verb: "enqueue", done: "enqueued" }`. */
  words: { subject: string; verb: string; done: string };
  firstRetryMs?: number;
  maxRetryMs?: number;
  maxPending?: number;
}

/**
 * Runs work that needs the store, keeping what fails for a retry.
 *
 * @example
 * ```ts
 * const retry = new StoreRetry({ log, words: { subject: "Webhooks", verb: "enqueue", done: "enqueued" } });
 * void retry.submit({ what: `call.ended of ${callSid}`, run: () => buildAndEnqueue(callSid) });
 * await retry.close();
 * ```
 */
export class StoreRetry {
  #o: StoreRetryOptions;
  #jobs: StoreJob[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #episode: { since: number; retryMs: number; dropped: number } | undefined;
  #draining: Promise<void> | undefined;
  #closed = false;

  constructor(options: StoreRetryOptions) {
    this.#o = options;
  }

  /** Pieces of work waiting for the store. */
  get pending(): number {
    return this.#jobs.length;
  }

  /**
   * Runs `job` now, or, while earlier ones wait for the store, after them. Never rejects: a failure
   * keeps the job for a retry.
   */
  async submit(job: StoreJob): Promise<void> {
    const { subject, verb } = this.#o.words;
    if (this.#closed) {
      this.#o.log.error(`${subject}: could not ${verb} ${job.what}: Parley is shutting down`);
      return;
    }
    if (this.#episode !== undefined) {
      this.#keep(job);
      return;
    }
    try {
      await job.run();
    } catch (error) {
      if (this.#closed) {
        this.#o.log.error(`${subject}: could not ${verb} ${job.what} before shutdown: ${describe(error)}`);
        return;
      }
      this.#keep(job);
      this.#fail(job, error);
    }
  }

  /** Stops retrying; what still waits is logged by name (it is lost with the process). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#draining;
    if (this.#jobs.length === 0) return;
    const names = this.#jobs.slice(0, 5).map((j) => j.what).join(", ");
    const { subject, done } = this.#o.words;
    this.#o.log.error(
      `${subject}: ${this.#jobs.length} not ${done} before shutdown (the store did not take them): ` +
        `${names}${this.#jobs.length > 5 ? ", …" : ""}`,
    );
    this.#jobs = [];
  }

  #keep(job: StoreJob): void {
    this.#jobs.push(job);
    const max = this.#o.maxPending ?? STORE_RETRY_DEFAULTS.maxPending;
    while (this.#jobs.length > max) {
      const dropped = this.#jobs.shift()!;
      if (this.#episode !== undefined) this.#episode.dropped++;
      this.#o.log.error(
        `${this.#o.words.subject}: dropped ${dropped.what}: more than ${max} wait for the store`,
      );
    }
  }

  #fail(job: StoreJob, error: unknown): void {
    const first = this.#o.firstRetryMs ?? STORE_RETRY_DEFAULTS.firstRetryMs;
    if (this.#episode === undefined) {
      this.#episode = { since: performance.now(), retryMs: first, dropped: 0 };
      const { subject, verb } = this.#o.words;
      this.#o.log.error(
        `${subject}: cannot ${verb} ${job.what}: ${
          describe(error)
        }; keeping it in memory with what follows ` +
          `(at most ${this.#o.maxPending ?? STORE_RETRY_DEFAULTS.maxPending}) and retrying`,
      );
    } else {
      this.#episode.retryMs = Math.min(
        this.#episode.retryMs * 2,
        this.#o.maxRetryMs ?? STORE_RETRY_DEFAULTS.maxRetryMs,
      );
    }
    this.#planRetry();
  }

  /**
   * Plans the next retry, unless one is planned or running: work that failed together (two writes in
   * flight when the store stopped answering) is retried by one loop, each piece once, in order.
   */
  #planRetry(): void {
    if (this.#closed || this.#timer !== undefined || this.#draining !== undefined) return;
    if (this.#episode === undefined) return;
    this.#timer = setTimeout(() => this.#drain(), this.#episode.retryMs);
  }

  #drain(): void {
    this.#timer = undefined;
    this.#draining = (async () => {
      let enqueued = 0; // this stretch's work that went through
      while (this.#jobs.length > 0) {
        const job = this.#jobs[0]!;
        try {
          await job.run();
        } catch (error) {
          this.#fail(job, error); // backs off; the retry is planned once this loop has ended
          return;
        }
        this.#jobs.shift();
        enqueued++;
      }
      const episode = this.#episode;
      this.#episode = undefined;
      if (episode === undefined) return;
      const { subject, done } = this.#o.words;
      this.#o.log.info(
        `${subject}: ${done} again after ${((performance.now() - episode.since) / 1000).toFixed(1)} s: ` +
          `${enqueued} ${done}, ${episode.dropped} dropped`,
      );
    })().finally(() => {
      this.#draining = undefined;
      this.#planRetry();
    });
  }
}

function describe(error: unknown): string {
  return errorText(error);
}

/**
 * Throws when `store` still fails to write: a record read from it now is behind the call (its events
 * wait in memory), so the work that read it must wait too.
 */
export function assertStoreWriting(store: { health(): StoreHealth } | undefined): void {
  if (store?.health().failing) {
    throw new Error("the call store cannot write (the call's events wait in its memory)");
  }
}
