/**
 * The agent's key presses (`press_keys`) as agent audio: DTMF tones queued until the agent's current
 * answer is done, so they play after its words, then sent like any agent audio (marks, barge-in).
 *
 * @module
 */

import { dtmfTones } from "../twilio/dtmf_tones.ts";

/** Item ids of keypad tones start with this: they are agent audio, but no engine item. */
export const TONES_ITEM_PREFIX = "keypad_tones_";

/**
 * A queue of keypad tones for one call.
 *
 * @example
 * ```ts
 * const tones = new KeypadTones((itemId, payload) => play(itemId, payload));
 * tones.press("2#"); // undefined: queued
 * tones.flush(); // after the agent's answer
 * ```
 */
export class KeypadTones {
  readonly #play: (itemId: string, payload: string) => void;
  #queued: { itemId: string; payload: string }[] = [];
  #count = 0;

  constructor(play: (itemId: string, payload: string) => void) {
    this.#play = play;
  }

  /** Tones waiting to be played. */
  get pending(): boolean {
    return this.#queued.length > 0;
  }

  /** Queues the tones of `keys`; returns why not when `keys` is not a string of keys. */
  press(keys: unknown): string | undefined {
    const tones = typeof keys === "string"
      ? dtmfTones(keys)
      : { ok: false as const, problem: "keys is missing" };
    if (!tones.ok) return tones.problem;
    this.#queued.push({ itemId: `${TONES_ITEM_PREFIX}${++this.#count}`, payload: toBase64(tones.audio) });
    return undefined;
  }

  /** Plays what is queued. */
  flush(): void {
    for (const tone of this.#queued) this.#play(tone.itemId, tone.payload);
    this.#queued = [];
  }
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
