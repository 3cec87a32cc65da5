/**
 * One call's recorder: a frame-tap listener (`src/relay/frame_tap.ts`) that lays the call out on two
 * channels at 8 kHz, left the caller and right the agent **as the caller heard it**: agent audio is
 * placed where Twilio played it (`playAt`) and silenced from a `clear` on, so what a barge-in cut is
 * not in the recording.
 *
 * It holds only the stretch that is not final yet (from the last write up to the end of the audio
 * Twilio has queued) and hands whole frames to its sink about every half second, so memory per call
 * stays flat whatever the call's length. Times that arrive a little early or late (network jitter)
 * are joined to what came before; a longer gap is silence.
 *
 * @module
 */

import { decodeMulawSample } from "../audio/mulaw.ts";
import type { CallTapListener } from "../relay/frame_tap.ts";
import { FRAME_BYTES, SAMPLE_RATE } from "./wav.ts";

/** Where a recorder's interleaved PCM goes (the file, as the call goes). */
export interface RecordingSink {
  /** Appends interleaved 16-bit little-endian sample frames. */
  write(frames: Uint8Array): void;
  /** The call ended: `dataBytes` were written, lasting `durationMs`. */
  finish(dataBytes: number, durationMs: number): void;
}

const SAMPLES_PER_MS = SAMPLE_RATE / 1000;
/**
 * Agent audio this close to where the channel's audio ends joins it (the play-out estimate's jitter),
 * samples.
 */
const AGENT_JOIN_SAMPLES = 60 * SAMPLES_PER_MS;
/**
 * Caller frames are one continuous stream (Twilio sends silence too): a frame that arrives late after
 * a stall still follows the one before, unless it is this far behind its time (the stream stopped).
 */
const CALLER_JOIN_SAMPLES = 500 * SAMPLES_PER_MS;
/** What stays unwritten behind the newest time heard, for caller frames that arrive late, samples. */
const SETTLE_SAMPLES = 200 * SAMPLES_PER_MS;
/** Written once this much is final, samples (0.5 s: 8 KB a write). */
const WRITE_SAMPLES = 500 * SAMPLES_PER_MS;
/** Agent audio scheduled further ahead than this is dropped (never happens with Twilio's buffer), samples. */
const MAX_AHEAD_SAMPLES = 10 * 60 * SAMPLE_RATE;

/** μ-law byte → linear sample, as a table (the recorder decodes every byte of the call). */
const MULAW_TABLE = Int16Array.from({ length: 256 }, (_, byte) => decodeMulawSample(byte));
/** Base64 character code → its 6 bits (the payloads are decoded straight into samples, no string). */
const BASE64 = (() => {
  const table = new Uint8Array(128);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();

/** Bytes a base64 string of `length` characters ending in `padding` "=" holds. */
function base64Bytes(payload: string): number {
  const n = payload.length;
  const padding = n === 0
    ? 0
    : payload.charCodeAt(n - 1) !== 61
    ? 0
    : payload.charCodeAt(n - 2) === 61
    ? 2
    : 1;
  return (n >> 2) * 3 - padding;
}

/** WAV is little-endian: on a big-endian machine the samples' bytes are swapped before writing. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapBytes(samples: Int16Array): void {
  const view = new DataView(samples.buffer);
  for (let i = 0; i < samples.length; i++) view.setInt16(i * 2, samples[i]!, true);
}

/** One channel's not-yet-written samples: index 0 is the recorder's `written` position. */
class PendingChannel {
  samples = new Int16Array(2 * WRITE_SAMPLES);
  /** Absolute sample where this channel's audio ends so far. */
  end = 0;

  /** Makes room up to absolute sample `upTo` (from `written`). */
  reserve(written: number, upTo: number): void {
    const need = upTo - written;
    if (need <= this.samples.length) return;
    let size = this.samples.length;
    while (size < need) size *= 2;
    const grown = new Int16Array(size);
    grown.set(this.samples);
    this.samples = grown;
  }

  /** Writes base64 μ-law `payload` at absolute sample `at`. */
  put(written: number, at: number, payload: string): void {
    const count = base64Bytes(payload);
    this.reserve(written, at + count);
    const samples = this.samples;
    let o = at - written;
    const end = o + count;
    for (let i = 0; i + 3 < payload.length && o < end; i += 4) {
      const bits = (BASE64[payload.charCodeAt(i)]! << 18) | (BASE64[payload.charCodeAt(i + 1)]! << 12) |
        (BASE64[payload.charCodeAt(i + 2)]! << 6) | BASE64[payload.charCodeAt(i + 3)]!;
      samples[o++] = MULAW_TABLE[bits >> 16]!;
      if (o < end) samples[o++] = MULAW_TABLE[(bits >> 8) & 255]!;
      if (o < end) samples[o++] = MULAW_TABLE[bits & 255]!;
    }
    this.end = Math.max(this.end, at + count);
  }

  /** Silence from absolute sample `from` on. */
  clearFrom(written: number, from: number): void {
    const start = Math.max(0, from - written);
    if (start < this.samples.length) this.samples.fill(0, start);
    this.end = Math.min(this.end, Math.max(from, written));
  }

  /** Drops the first `count` samples (written), shifting the rest down. */
  shift(count: number): void {
    this.samples.copyWithin(0, count);
    this.samples.fill(0, this.samples.length - count);
  }
}

/**
 * A recorder for one call. Give it to the frame tap; it writes to `sink` as the call goes and
 * finishes the sink when the call ends.
 */
export class CallRecorder implements CallTapListener {
  readonly #sink: RecordingSink;
  readonly #caller = new PendingChannel();
  readonly #agent = new PendingChannel();
  /** Absolute samples handed to the sink. */
  #written = 0;
  /** The newest call time heard from any event, samples. */
  #now = 0;
  #ended = false;

  /** A recorder writing to `sink`. */
  constructor(sink: RecordingSink) {
    this.#sink = sink;
  }

  /** A caller frame that arrived `at` ms into the call. */
  callerFrame(at: number, payload: string): void {
    if (this.#ended) return;
    const pos = this.#place(this.#caller, at, CALLER_JOIN_SAMPLES);
    this.#caller.put(this.#written, pos, payload);
    this.#advance(at);
  }

  /** Agent audio that plays out `playAt` ms into the call. */
  agentAudio(playAt: number, _itemId: string, _itemMs: number, payload: string): void {
    if (this.#ended) return;
    const pos = this.#place(this.#agent, playAt, AGENT_JOIN_SAMPLES);
    if (pos - this.#written > MAX_AHEAD_SAMPLES) return;
    this.#agent.put(this.#written, pos, payload);
    this.#advance(0);
  }

  /** Twilio was cleared `at` ms into the call: nothing of the agent's after `at` was heard. */
  agentCut(at: number): void {
    if (this.#ended) return;
    this.#agent.clearFrom(this.#written, Math.round(at * SAMPLES_PER_MS));
    this.#advance(at);
  }

  /** The call ended `at` ms into the call: the recording lasts exactly that long. */
  ended(at: number): void {
    if (this.#ended) return;
    this.#ended = true;
    const total = Math.max(this.#written, Math.round(at * SAMPLES_PER_MS));
    // Agent audio queued past the end was never heard.
    this.#agent.clearFrom(this.#written, total);
    this.#flush(total);
    this.#sink.finish(this.#written * FRAME_BYTES, (this.#written / SAMPLE_RATE) * 1000);
  }

  /** Where audio timed `atMs` goes on `channel`: joined to its end within `join`, else at its time. */
  #place(channel: PendingChannel, atMs: number, join: number): number {
    const at = Math.round(atMs * SAMPLES_PER_MS);
    const end = Math.max(channel.end, this.#written);
    return Math.abs(at - end) <= join || at < this.#written ? end : at;
  }

  /** Time moved on to `atMs`: writes what is final. */
  #advance(atMs: number): void {
    this.#now = Math.max(this.#now, Math.round(atMs * SAMPLES_PER_MS));
    const final = this.#now - SETTLE_SAMPLES;
    if (final - this.#written >= WRITE_SAMPLES) this.#flush(final);
  }

  /** Hands samples from `written` up to `upTo` to the sink, interleaved. */
  #flush(upTo: number): void {
    while (this.#written < upTo) {
      const count = Math.min(upTo - this.#written, this.#caller.samples.length, this.#agent.samples.length);
      this.#caller.reserve(this.#written, this.#written + count);
      this.#agent.reserve(this.#written, this.#written + count);
      const out = new Int16Array(count * 2);
      const left = this.#caller.samples;
      const right = this.#agent.samples;
      for (let i = 0; i < count; i++) {
        out[2 * i] = left[i]!;
        out[2 * i + 1] = right[i]!;
      }
      if (!LITTLE_ENDIAN) swapBytes(out);
      this.#sink.write(new Uint8Array(out.buffer));
      this.#caller.shift(count);
      this.#agent.shift(count);
      this.#written += count;
    }
  }
}
