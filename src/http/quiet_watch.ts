/**
 * A watch over a connection that may go quiet: the connection counts what it receives
 * ({@linkcode QuietWatch.heard}, one increment: no clock read per message, which matters at fifty
 * messages a second a call), and every `everyMs` the watch looks whether anything came since it last
 * looked. `onQuiet` hears how many looks in a row found nothing (1, 2, …) and how long it has been since
 * the last look that found something ran (or the watch began), and decides what that means: ping,
 * close, or wait. That span reads the clock once a look; a look that runs late still counts what came
 * before it, so counting looks alone can say "quiet for three intervals" up to that lateness early.
 * The upstream keepalive and the Twilio media socket's silence watch use it.
 *
 * @module
 */

/** Counts what a connection receives and reports the looks that found nothing. */
export class QuietWatch {
  #heard = 0;
  #heardBefore = 0;
  #quietLooks = 0;
  /** When the last look that found something ran, or the watch began (`performance.now()`), ms. */
  #activeAt = performance.now();
  readonly #timer: ReturnType<typeof setInterval>;

  /**
   * Looks every `everyMs`; `onQuiet` hears the number of quiet looks in a row, and the ms since the
   * last look that found something (nothing has come since at least then).
   *
   * @example
   * ```ts
   * const watch = new QuietWatch(10_000, (quiet) => quiet >= 3 && socket.close(1001));
   * socket.addEventListener("message", () => watch.heard());
   * socket.addEventListener("close", () => watch.stop());
   * ```
   */
  constructor(everyMs: number, onQuiet: (quietLooks: number, quietMs: number) => void) {
    this.#timer = setInterval(() => {
      const now = performance.now();
      if (this.#heard !== this.#heardBefore) {
        this.#heardBefore = this.#heard;
        this.#quietLooks = 0;
        this.#activeAt = now;
        return;
      }
      onQuiet(++this.#quietLooks, now - this.#activeAt);
    }, everyMs);
  }

  /** Something came. Hot path. */
  heard(): void {
    this.#heard++;
  }

  /** No more looks (the connection closed). */
  stop(): void {
    clearInterval(this.#timer);
  }
}
