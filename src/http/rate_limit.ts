/**
 * A per-key failure counter: after `maxFailures` failures within `windowMs` of the first one, the
 * key is refused until that window ends. Used to slow token guessing per client address; small and
 * synchronous, so it can become a middleware of the route table.
 *
 * @module
 */

/** Options for {@linkcode FailureLimiter}. */
export interface FailureLimiterOptions {
  /** Failures allowed in one window; the next attempt is refused. */
  maxFailures: number;
  /** How long a window lasts from its first failure, ms. */
  windowMs: number;
  /** Keys remembered at most (the oldest are forgotten first), so a spray of addresses stays bounded. @default 10000 */
  maxKeys?: number;
  /** Clock, epoch ms. @default Date.now */
  now?: () => number;
}

/**
 * Counts failures per key in fixed windows.
 *
 * @example
 * ```ts
 * const limiter = new FailureLimiter({ maxFailures: 10, windowMs: 60_000 });
 * if (limiter.retryAfterS(address) > 0) return tooManyRequests;
 * if (wrongToken) limiter.fail(address);
 * ```
 */
export class FailureLimiter {
  readonly #options: Required<FailureLimiterOptions>;
  readonly #windows = new Map<string, { failures: number; endsAt: number }>();

  /** A limiter with no failures counted yet. */
  constructor(options: FailureLimiterOptions) {
    this.#options = { maxKeys: 10_000, now: Date.now, ...options };
  }

  /** Whole seconds until `key` may try again; 0 when it may try now. */
  retryAfterS(key: string): number {
    const window = this.#live(key);
    if (window === undefined || window.failures < this.#options.maxFailures) return 0;
    return Math.max(1, Math.ceil((window.endsAt - this.#options.now()) / 1000));
  }

  /** Counts one failure of `key`; returns the failures in its current window. */
  fail(key: string): number {
    let window = this.#live(key);
    if (window === undefined) {
      this.#forgetOldest();
      window = { failures: 0, endsAt: this.#options.now() + this.#options.windowMs };
      this.#windows.set(key, window);
    }
    window.failures++;
    return window.failures;
  }

  /** Keys with a window open now. */
  get size(): number {
    return this.#windows.size;
  }

  #live(key: string) {
    const window = this.#windows.get(key);
    if (window === undefined) return undefined;
    if (window.endsAt > this.#options.now()) return window;
    this.#windows.delete(key);
    return undefined;
  }

  #forgetOldest(): void {
    if (this.#windows.size < this.#options.maxKeys) return;
    const now = this.#options.now();
    for (const [key, window] of this.#windows) if (window.endsAt <= now) this.#windows.delete(key);
    // Still full: the oldest windows (insertion order) go first.
    for (const key of this.#windows.keys()) {
      if (this.#windows.size < this.#options.maxKeys) break;
      this.#windows.delete(key);
    }
  }
}
