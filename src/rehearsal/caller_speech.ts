/**
 * The caller's speech waiting to go out on the virtual phone's line, cut into 160-byte μ-law frames
 * (silence after the speech runs out, as a phone line carries).
 *
 * @module
 */

/** Bytes of one 20 ms frame of 8 kHz μ-law. */
export const FRAME_BYTES = 160;
/** μ-law silence. */
export const SILENCE = 0xff;

/** The queue of the caller's speech. */
export class CallerSpeech {
  #outgoing: Uint8Array[] = [];

  /** Queues base64 μ-law speech of any length. */
  say(payload: string): void {
    const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
    if (bytes.length > 0) this.#outgoing.push(bytes);
  }

  /** Drops the speech not yet sent; returns the bytes dropped. */
  stopTalking(): number {
    const dropped = this.#outgoing.reduce((n, bytes) => n + bytes.length, 0);
    this.#outgoing = [];
    return dropped;
  }

  /** True when none of the caller's speech waits to be sent. */
  quiet(): boolean {
    return this.#outgoing.length === 0;
  }

  /** The next frame, and how many of its bytes are speech (the rest is silence). */
  nextFrame(): { frame: Uint8Array; filled: number } {
    const frame = new Uint8Array(FRAME_BYTES).fill(SILENCE);
    let filled = 0;
    while (filled < FRAME_BYTES && this.#outgoing.length > 0) {
      const head = this.#outgoing[0]!;
      const take = Math.min(head.length, FRAME_BYTES - filled);
      frame.set(head.subarray(0, take), filled);
      filled += take;
      if (take === head.length) this.#outgoing.shift();
      else this.#outgoing[0] = head.subarray(take);
    }
    return { frame, filled };
  }
}
