/**
 * The call store's bounded retry queue. Events wait here a moment and are written together; when a
 * write fails for a reason that passes (a lock held by another process, a full disk, an I/O error),
 * the batch goes back to the front of the queue and is retried with backoff, while new events keep
 * queueing, up to a bound beyond which the oldest are dropped and counted. Records are bookkeeping:
 * nothing here ever throws into the event loop or waits on the disk for longer than one attempt.
 *
 * One failing stretch is an *episode*: it is reported once when it starts and once when writes
 * succeed again, however many retries it takes.
 *
 * @module
 */

/** Defaults of {@linkcode WriteQueueOptions}. */
export const WRITE_QUEUE_DEFAULTS = {
  /** Events kept in memory while writes fail (about 20 MB at most). */
  maxPending: 10_000,
  /** Delay that gathers events into one write, ms. */
  flushDelayMs: 20,
  /** First retry after a failed write, ms; doubles up to `maxRetryMs`. */
  firstRetryMs: 100,
  /** Longest wait between retries, ms. */
  maxRetryMs: 5_000,
} as const;

/** Options for {@linkcode WriteQueue}. */
export interface WriteQueueOptions<T> {
  /** Writes a batch; throws when the whole batch must be retried. */
  write(batch: readonly T[]): void;
  /** Called once when writes start failing, with the error and how many events wait. */
  onFailing(error: unknown, pending: number): void;
  /** Called once when writes succeed again, with the episode's length and what it cost. */
  onRecovered(summary: { failedForMs: number; written: number; dropped: number }): void;
  /** @default WRITE_QUEUE_DEFAULTS.maxPending */
  maxPending?: number;
  /** @default WRITE_QUEUE_DEFAULTS.flushDelayMs */
  flushDelayMs?: number;
  /** @default WRITE_QUEUE_DEFAULTS.firstRetryMs */
  firstRetryMs?: number;
  /** @default WRITE_QUEUE_DEFAULTS.maxRetryMs */
  maxRetryMs?: number;
  /** Monotonic clock, ms. @default performance.now */
  now?: () => number;
}

/**
 * Queues items and writes them in batches, retrying failed batches with backoff.
 *
 * @example
 * ```ts
 * const queue = new WriteQueue<CallEvent>({ write: (batch) => writeAll(batch), onFailing, onRecovered });
 * queue.push(event); // never throws, never blocks
 * ```
 */
export class WriteQueue<T> {
  #o: WriteQueueOptions<T>;
  #max: number;
  #items: T[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #dropped = 0;
  /** `#dropped` at the last successful write. */
  #droppedBefore = 0;
  /** Set while writes fail: when the episode began, and the next retry delay. */
  #episode: { since: number; retryMs: number } | undefined;

  constructor(options: WriteQueueOptions<T>) {
    this.#o = options;
    this.#max = options.maxPending ?? WRITE_QUEUE_DEFAULTS.maxPending;
  }

  /** Items waiting to be written. */
  get pending(): number {
    return this.#items.length;
  }

  /** Items dropped because the queue was full, since start. */
  get dropped(): number {
    return this.#dropped;
  }

  /** True while writes are failing. */
  get failing(): boolean {
    return this.#episode !== undefined;
  }

  /** Queues `item`; the oldest item is dropped (and counted) when the queue is full. */
  push(item: T): void {
    this.#items.push(item);
    this.#trim();
    // During an episode the retry timer is already set; a new item must not hurry it.
    this.#timer ??= setTimeout(() => this.flush(), this.#o.flushDelayMs ?? WRITE_QUEUE_DEFAULTS.flushDelayMs);
  }

  /**
   * Tries to write everything now. Returns true when nothing is left waiting. Never throws: a failed
   * batch goes back to the front of the queue and a retry is scheduled.
   */
  flush(): boolean {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#items.length === 0) return true;
    const batch = this.#items;
    this.#items = [];
    try {
      this.#o.write(batch);
    } catch (error) {
      this.#items = batch.concat(this.#items);
      this.#trim();
      this.#fail(error);
      return false;
    }
    if (this.#episode !== undefined) {
      const now = this.#o.now ?? (() => performance.now());
      this.#o.onRecovered({
        failedForMs: now() - this.#episode.since,
        written: batch.length,
        dropped: this.#dropped - this.#droppedBefore,
      });
      this.#episode = undefined;
    }
    this.#droppedBefore = this.#dropped;
    return true;
  }

  /** Stops retrying; what is still queued stays in `pending` (and is lost with the process). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #fail(error: unknown): void {
    const first = this.#o.firstRetryMs ?? WRITE_QUEUE_DEFAULTS.firstRetryMs;
    if (this.#episode === undefined) {
      const now = this.#o.now ?? (() => performance.now());
      this.#episode = { since: now(), retryMs: first };
      this.#o.onFailing(error, this.#items.length);
    } else {
      this.#episode.retryMs = Math.min(
        this.#episode.retryMs * 2,
        this.#o.maxRetryMs ?? WRITE_QUEUE_DEFAULTS.maxRetryMs,
      );
    }
    this.#timer = setTimeout(() => this.flush(), this.#episode.retryMs);
  }

  #trim(): void {
    const excess = this.#items.length - this.#max;
    if (excess <= 0) return;
    this.#items.splice(0, excess);
    this.#dropped += excess;
  }
}
