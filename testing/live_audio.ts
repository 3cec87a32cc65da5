/**
 * Audio helpers of the GPT-Live fake: μ-law loudness (to tell caller speech from silence the way a
 * voice model hears it) and a pacer that sends an utterance chunk by chunk on a drift-free schedule.
 *
 * @module
 */

import { decodeMulawSample } from "../src/audio/mulaw.ts";

/** Linear value of each μ-law byte (G.711), looked up once per byte value. */
const MULAW_TO_LINEAR = Int16Array.from({ length: 256 }, (_, byte) => decodeMulawSample(byte));

/** Mean absolute amplitude (0 … 32124) of μ-law bytes. */
export function mulawLoudness(bytes: Uint8Array): number {
  if (bytes.length === 0) return 0;
  let sum = 0;
  for (const byte of bytes) sum += Math.abs(MULAW_TO_LINEAR[byte]!);
  return sum / bytes.length;
}

/** Loudness above which a frame counts as speech (well above line noise, far below a voice). */
export const SPEECH_LOUDNESS = 1000;

/** How one scripted utterance is paced. */
export interface PaceOptions {
  /** Milliseconds of audio per delta. @default 20 */
  chunkMs?: number;
  /** Playback speeds of output per second of wall time: 1 is real time. @default 1 */
  speed?: number;
  /** Audio sent at once, ahead of the real-time schedule, in ms. @default 0 */
  leadMs?: number;
}

/** Sends `audio` in chunks on a schedule; `stop()` ends it early. */
export class Pacer {
  /** Resolves with the ms of audio sent, and whether it was stopped, once done. */
  readonly done: Promise<{ sentMs: number; stopped: boolean }>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #finish!: (stopped: boolean) => void;
  #sentBytes = 0;

  /**
   * Starts sending at once. `send(chunk, positionMs)` gets each chunk with its position in the
   * utterance; it returns false when the socket is gone, which ends the utterance as stopped.
   */
  constructor(
    audio: Uint8Array,
    send: (chunk: Uint8Array, positionMs: number) => boolean,
    options: PaceOptions = {},
  ) {
    const chunkBytes = Math.max(1, Math.round((options.chunkMs ?? 20) * 8));
    const speed = options.speed ?? 1;
    const leadMs = options.leadMs ?? 0;
    const start = performance.now();
    this.done = new Promise((resolve) => {
      this.#finish = (stopped) => {
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#finish = () => {};
        resolve({ sentMs: this.#sentBytes / 8, stopped });
      };
    });
    const tick = () => {
      const dueMs = leadMs + (performance.now() - start) * speed;
      while (this.#sentBytes < audio.length && this.#sentBytes / 8 <= dueMs) {
        const chunk = audio.subarray(this.#sentBytes, this.#sentBytes + chunkBytes);
        if (!send(chunk, this.#sentBytes / 8)) return this.#finish(true);
        this.#sentBytes += chunk.length;
      }
      if (this.#sentBytes >= audio.length) return this.#finish(false);
      const nextDueWall = start + (this.#sentBytes / 8 - leadMs) / speed;
      this.#timer = setTimeout(tick, Math.max(0, nextDueWall - performance.now()));
    };
    tick();
  }

  /** Stops before the next chunk (the model stopped speaking mid-answer). */
  stop(): void {
    this.#finish(true);
  }
}
