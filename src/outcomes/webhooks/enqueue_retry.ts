/**
 * Putting a webhook in the outbox needs the store twice: the record the payload is built from, and the
 * outbox row. While the store cannot be written (a locked or full disk, a Postgres restart) either
 * fails, or the record is behind the call (its events wait in the store's memory). Such an enqueue is
 * not dropped: it waits here, in order, bounded, and is tried again with backoff until the store takes
 * it. One failing stretch is reported once when it starts and once when it ends; what is dropped (past
 * the bound) or still waiting at shutdown is logged, never lost silently.
 *
 * @module
 */

import type { Logger } from "../../log.ts";

/** Defaults of {@linkcode EnqueueRetry}. */
export const ENQUEUE_RETRY_DEFAULTS = {
  /** First retry after a failed enqueue, ms; doubles up to `maxRetryMs`. */
  firstRetryMs: 1_000,
  /** Longest wait between retries, ms. */
  maxRetryMs: 5_000,
  /** Enqueues kept while the store fails (the oldest are dropped, and logged, beyond). */
  maxPending: 10_000,
} as const;

/** One enqueue: what it is (for the log), and the work, which throws to be tried again. */
export interface EnqueueJob {
  /** E.g. `call.ended of CA…`. */
  what: string;
  run(): Promise<void>;
}

/** Options of {@linkcode EnqueueRetry}. */
export interface EnqueueRetryOptions {
  log: Logger;
  firstRetryMs?: number;
  maxRetryMs?: number;
  maxPending?: number;
}

/**
 * Runs enqueues, keeping the failed ones for a retry.
 *
 * @example
 * ```ts
 * const retry = new EnqueueRetry({ log });
 * void retry.submit({ what: `call.ended of ${callSid}`, run: () => buildAndEnqueue(callSid) });
 * await retry.close();
 * ```
 */
export class EnqueueRetry {
  #o: EnqueueRetryOptions;
  #jobs: EnqueueJob[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #episode: { since: number; retryMs: number; dropped: number } | undefined;
  #draining: Promise<void> | undefined;
  #closed = false;

  constructor(options: EnqueueRetryOptions) {
    this.#o = options;
  }

  /** Enqueues waiting for the store. */
  get pending(): number {
    return this.#jobs.length;
  }

  /**
   * Runs `job` now, or, while earlier ones wait for the store, after them. Never rejects: a failure
   * keeps the job for a retry.
   */
  async submit(job: EnqueueJob): Promise<void> {
    if (this.#closed) {
      this.#o.log.error(`Webhooks: could not enqueue ${job.what}: Parley is shutting down`);
      return;
    }
    if (this.#episode !== undefined) {
      this.#keep(job);
      return;
    }
    try {
      await job.run();
    } catch (error) {
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
    this.#o.log.error(
      `Webhooks: ${this.#jobs.length} message(s) could not be enqueued before shutdown (the store did not ` +
        `take them): ${names}${this.#jobs.length > 5 ? ", …" : ""}`,
    );
    this.#jobs = [];
  }

  #keep(job: EnqueueJob): void {
    this.#jobs.push(job);
    const max = this.#o.maxPending ?? ENQUEUE_RETRY_DEFAULTS.maxPending;
    while (this.#jobs.length > max) {
      const dropped = this.#jobs.shift()!;
      if (this.#episode !== undefined) this.#episode.dropped++;
      this.#o.log.error(`Webhooks: dropped ${dropped.what}: more than ${max} messages wait for the store`);
    }
  }

  #fail(job: EnqueueJob, error: unknown): void {
    const first = this.#o.firstRetryMs ?? ENQUEUE_RETRY_DEFAULTS.firstRetryMs;
    if (this.#episode === undefined) {
      this.#episode = { since: performance.now(), retryMs: first, dropped: 0 };
      this.#o.log.error(
        `Webhooks: cannot enqueue ${job.what}: ${describe(error)}; keeping it in memory with what follows ` +
          `(at most ${this.#o.maxPending ?? ENQUEUE_RETRY_DEFAULTS.maxPending}) and retrying`,
      );
    } else {
      this.#episode.retryMs = Math.min(
        this.#episode.retryMs * 2,
        this.#o.maxRetryMs ?? ENQUEUE_RETRY_DEFAULTS.maxRetryMs,
      );
    }
    if (!this.#closed) this.#timer = setTimeout(() => this.#drain(), this.#episode.retryMs);
  }

  #drain(): void {
    this.#timer = undefined;
    this.#draining = (async () => {
      let enqueued = 0;
      while (this.#jobs.length > 0) {
        const job = this.#jobs[0]!;
        try {
          await job.run();
        } catch (error) {
          this.#fail(job, error);
          return;
        }
        this.#jobs.shift();
        enqueued++;
      }
      const episode = this.#episode!;
      this.#episode = undefined;
      this.#o.log.info(
        `Webhooks: enqueued again after ${((performance.now() - episode.since) / 1000).toFixed(1)} s: ` +
          `${enqueued} message(s) enqueued, ${episode.dropped} dropped`,
      );
    })().finally(() => this.#draining = undefined);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
