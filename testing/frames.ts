/**
 * Audio payloads that carry their own identity, and the ledger that times them.
 *
 * Every 160-byte μ-law frame the bench sends (caller audio up, agent audio down) starts with six
 * bytes: a 32-bit frame id and a 16-bit call index. Six bytes are exactly eight base64 characters,
 * so a payload is `header(id, call) + TAIL` with no per-frame base64 encoding of audio, and the
 * receiver reads the id back from the first eight characters without decoding the rest. The relay
 * under test passes the payload through untouched, which is what lets the far end recognise it.
 *
 * @module
 */

/** Bytes in one 20 ms frame of 8 kHz μ-law. */
export const FRAME_BYTES = 160;
/** Milliseconds of audio in one frame. */
export const FRAME_MS = 20;
/** Base64 characters of the identifying header (6 bytes). */
export const HEADER_CHARS = 8;
/** Call index written when the sender does not know the call (the fake upstream, early on). */
export const UNKNOWN_CALL = 0xffff;

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** Base64 of the 154 bytes after the header: a steady tone, `==`-padded. */
export const TAIL: string = btoa(String.fromCharCode(...new Uint8Array(FRAME_BYTES - 6).fill(0x7e)));

function sextets(a: number, b: number, c: number): string {
  return ALPHABET[a >> 2]! + ALPHABET[((a & 3) << 4) | (b >> 4)]! + ALPHABET[((b & 15) << 2) | (c >> 6)]! +
    ALPHABET[c & 63]!;
}

/**
 * A full frame payload (base64 of 160 bytes) carrying `id` and `call`.
 *
 * @example
 * ```ts
 * const payload = framePayload(42, 7);
 * readFrameId(payload, 0); // 42
 * ```
 */
export function framePayload(id: number, call: number): string {
  return sextets((id >>> 24) & 255, (id >>> 16) & 255, (id >>> 8) & 255) +
    sextets(id & 255, (call >>> 8) & 255, call & 255) + TAIL;
}

/** 24 bits from four base64 characters at `text[at]`, or -1 if one is not base64. */
function readQuad(text: string, at: number): number {
  let bits = 0;
  for (let i = 0; i < 4; i++) {
    const value = DECODE[text.charCodeAt(at + i) & 127]!;
    if (value < 0) return -1;
    bits = (bits << 6) | value;
  }
  return bits;
}

/** The frame id in the payload starting at `text[at]`, or -1 if it is not one of ours. */
export function readFrameId(text: string, at: number): number {
  const high = readQuad(text, at);
  const low = readQuad(text, at + 4);
  if (high < 0 || low < 0) return -1;
  return high * 256 + (low >>> 16);
}

/** The call index in the payload starting at `text[at]`, or -1 if it is not one of ours. */
export function readFrameCall(text: string, at: number): number {
  const low = readQuad(text, at + 4);
  return low < 0 ? -1 : low & 0xffff;
}

/** A growable array of doubles: latency samples without a boxed number per sample. */
export class Samples {
  #data = new Float64Array(4096);
  #count = 0;

  /** Adds one sample. */
  add(value: number): void {
    if (this.#count === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.#count++] = value;
  }

  /** The samples, in the order added. */
  values(): number[] {
    return [...this.#data.subarray(0, this.#count)];
  }

  /** Number of samples. */
  get count(): number {
    return this.#count;
  }

  /** p50, p99, max and mean, in the samples' unit; zeros when empty. */
  summary(): Summary {
    const n = this.#count;
    if (n === 0) return { count: 0, p50: 0, p99: 0, max: 0, mean: 0 };
    const sorted = this.#data.slice(0, n).sort();
    let total = 0;
    for (let i = 0; i < n; i++) total += sorted[i]!;
    return {
      count: n,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      max: sorted[n - 1]!,
      mean: total / n,
    };
  }
}

/** Distribution of a set of samples. */
export interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of ascending `sorted` (`p` in 0..1). */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/**
 * Frames of one direction: when each was sent, whether it arrived, and the latency of those sent
 * inside the measuring window.
 */
export class FrameLedger {
  /** Latency (arrival − send, ms) of frames sent inside the window. */
  readonly latency: Samples = new Samples();
  #sentAt = new Float64Array(65536);
  #arrived = new Uint8Array(65536);
  #sent = 0;
  #received = 0;
  #duplicates = 0;
  #strangers = 0;
  #windowStart = Infinity;
  #windowEnd = Infinity;

  /** Records a frame sent at `now`; returns its id. */
  sent(now: number): number {
    const id = this.#sent++;
    if (id === this.#sentAt.length) {
      const times = new Float64Array(id * 2);
      times.set(this.#sentAt);
      this.#sentAt = times;
      const flags = new Uint8Array(id * 2);
      flags.set(this.#arrived);
      this.#arrived = flags;
    }
    this.#sentAt[id] = now;
    return id;
  }

  /** Records the arrival of frame `id` at `at`. */
  arrived(id: number, at: number): void {
    if (id < 0 || id >= this.#sent) {
      this.#strangers++;
      return;
    }
    if (this.#arrived[id] === 1) {
      this.#duplicates++;
      return;
    }
    this.#arrived[id] = 1;
    this.#received++;
    const sentAt = this.#sentAt[id]!;
    if (sentAt >= this.#windowStart && sentAt < this.#windowEnd) this.latency.add(at - sentAt);
  }

  /** Frames sent from `start` on (and before `end`) count toward latency. */
  setWindow(start: number, end = Infinity): void {
    this.#windowStart = start;
    this.#windowEnd = end;
  }

  /** Closes the window at `end`. */
  endWindow(end: number): void {
    this.#windowEnd = end;
  }

  /** Totals: sent, received, lost (sent − received), duplicates, unknown ids. */
  counts(): FrameCounts {
    return {
      sent: this.#sent,
      received: this.#received,
      lost: this.#sent - this.#received,
      duplicates: this.#duplicates,
      unknown: this.#strangers,
    };
  }
}

/** Frame totals of one direction. */
export interface FrameCounts {
  sent: number;
  received: number;
  lost: number;
  duplicates: number;
  unknown: number;
}
