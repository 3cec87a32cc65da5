/**
 * A watch over a connection that may go quiet: the connection counts what it receives
 * ({@linkcode QuietWatch.heard}, one increment: no clock read per message, which matters at fifty
 * messages a second a call), and every `everyMs` the watch looks whether anything came since it last
 * looked. `onQuiet` hears how many looks in a row found nothing (1, 2, …) and decides what that means:
 * ping, close, or wait. The upstream keepalive and the Twilio media socket's silence watch use it.
 *
 * @module
 */

/** Counts what a connection receives and reports the looks that found nothing. */
export class QuietWatch {
  #heard = 0;
  #heardBefore = 0;
  #quietLooks = 0;
  readonly #timer: ReturnType<typeof setInterval>;

  /**
   * Looks every `everyMs`; `onQuiet` hears the number of quiet looks in a row.
   *
   * @example
   * ```ts
   * const watch = new QuietWatch(10_000, (quiet) => quiet >= 3 && socket.close(1001));
   * socket.addEventListener("message", () => watch.heard());
   * socket.addEventListener("close", () => watch.stop());
   * ```
   */
  constructor(everyMs: number, onQuiet: (quietLooks: number) => void) {
    this.#timer = setInterval(() => {
      if (this.#heard !== this.#heardBefore) {
        this.#heardBefore = this.#heard;
        this.#quietLooks = 0;
        return;
      }
      onQuiet(++this.#quietLooks);
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
