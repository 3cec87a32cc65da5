/**
 * Caller keypad presses, batched: presses less than a window apart reach the model as one short
 * text ("The caller pressed 1, 2, 3, #"), so a typed account number is one message, not six turns.
 *
 * @module
 */

/** Options of {@linkcode KeypadBatcher}. */
export interface KeypadBatcherOptions {
  /** Gets the text of each finished batch. */
  onBatch(text: string, digits: string[]): void;
  /** Presses closer than this belong to one batch, ms. @default 1500 */
  windowMs?: number;
}

/** The keys a caller can press on a phone keypad. */
const KEYS = /^[0-9*#A-D]$/;

/** True when `digit` is one key of a phone keypad (what a Twilio `dtmf` frame carries). */
export function isKeypadKey(digit: string): boolean {
  return KEYS.test(digit);
}

/**
 * Collects key presses and hands each batch to `onBatch` once the caller pauses.
 *
 * @example
 * ```ts
 * const keypad = new KeypadBatcher({ onBatch: (text) => engine.sendText(text) });
 * keypad.press("4"); // 1.5 s later: "The caller pressed 4"
 * ```
 */
export class KeypadBatcher {
  readonly #options: KeypadBatcherOptions;
  #digits: string[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: KeypadBatcherOptions) {
    this.#options = options;
  }

  /** Adds one press; returns false (and ignores it) when `digit` is not a keypad key. */
  press(digit: string): boolean {
    if (!isKeypadKey(digit)) return false;
    this.#digits.push(digit);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.flush(), this.#options.windowMs ?? 1_500);
    return true;
  }

  /** Sends what has been pressed so far, if anything (e.g. when the caller starts speaking). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#digits.length === 0) return;
    const digits = this.#digits;
    this.#digits = [];
    this.#options.onBatch(`The caller pressed ${digits.join(", ")}`, digits);
  }

  /** Drops pending presses and the timer (the call ended). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#digits = [];
  }
}
