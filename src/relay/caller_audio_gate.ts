/**
 * What caller audio may go upstream, and the count of what may not. Twilio sends 50 frames of 20 ms
 * a second; a socket that sends faster (a flood, a replay) is running ahead of the wall clock. Audio
 * more than {@linkcode MAX_LEAD_MS} ahead is dropped, as is audio spoken while the upstream is being
 * replaced (a reconnect: not queued into a stale turn) and frames of another stream.
 *
 * Drops in the session itself (the queue before the upstream is ready, backpressure) are counted
 * here too, so one call has one set of drop counts for its record and the metrics.
 *
 * @module
 */

import type { CallerAudioDrops } from "../calls/call_events.ts";
import { mulawDurationMs } from "../twilio/media_stream.ts";

/** Caller audio may run ahead of the wall clock by at most this much, ms. */
export const MAX_LEAD_MS = 1000;

/** Why a caller frame was dropped. */
export type DropReason = keyof CallerAudioDrops;

/** No drops yet. */
export function noDrops(): CallerAudioDrops {
  return { queue: 0, backpressure: 0, ahead: 0, gap: 0, foreignStream: 0 };
}

/**
 * Paces one call's caller audio against the wall clock and counts every dropped frame.
 *
 * @example
 * ```ts
 * const gate = new CallerAudioGate(() => performance.now());
 * if (gate.admit(payload)) session.sendAudio(payload);
 * ```
 */
export class CallerAudioGate {
  /** Frames dropped so far, by reason. */
  readonly drops: CallerAudioDrops = noDrops();
  readonly #now: () => number;
  readonly #onDrop: (reason: DropReason) => void;
  #firstAt: number | undefined;
  /** When the clock was last read (monotonic ms). */
  #readAt = 0;
  #forwardedMs = 0;

  /** `onDrop` hears every drop (process-wide counters). */
  constructor(now: () => number, onDrop: (reason: DropReason) => void = () => {}) {
    this.#now = now;
    this.#onDrop = onDrop;
  }

  /**
   * True when a frame (base64 μ-law, 8 bytes a ms) may go upstream: the audio forwarded so far stays
   * within {@linkcode MAX_LEAD_MS} of the time since the first frame.
   */
  admit(payload: string): boolean {
    const ms = mulawDurationMs(payload);
    const forwardedMs = this.#forwardedMs + ms;
    // The clock is read only when the bound may be reached by the time last read: time only moves on,
    // so a frame within the bound then is within it now (most frames, at 20 ms each in real time).
    if (this.#firstAt === undefined) this.#firstAt = this.#readAt = this.#now();
    else if (forwardedMs > this.#readAt - this.#firstAt + MAX_LEAD_MS) this.#readAt = this.#now();
    if (forwardedMs > this.#readAt - this.#firstAt + MAX_LEAD_MS) {
      this.drop("ahead");
      return false;
    }
    this.#forwardedMs = forwardedMs;
    return true;
  }

  /** Counts one dropped frame. */
  drop(reason: DropReason): void {
    this.drops[reason]++;
    this.#onDrop(reason);
  }

  /** Frames dropped for any reason. */
  get total(): number {
    const d = this.drops;
    return d.queue + d.backpressure + d.ahead + d.gap + d.foreignStream;
  }
}
