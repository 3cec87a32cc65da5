/**
 * One call's recorder: a frame-tap listener (`src/relay/frame_tap.ts`) that lays the call out on two
 * channels at 8 kHz, left the caller and right the agent **as the caller heard it**: agent audio is
 * placed where Twilio played it (`playAt`) and silenced from a `clear` on, so what a barge-in cut is
 * not in the recording.
 *
 * It holds only the stretch that is not final yet (from the last write up to the end of the audio
 * Twilio has queued), as the μ-law bytes it came in (base64 decoded natively, in place), and hands
 * whole frames to its sink about every half second, the two channels' bytes interleaved into one
 * buffer all recorders share (the file is μ-law too: nothing is decoded): memory per call stays flat
 * (8 KB a channel, whatever the call's length, from a pool that calls pass on to the next) and a write
 * allocates nothing.
 *
 * The caller's frames are placed by Twilio's own clock (`streamAt`, the frame's `media.timestamp` in
 * call time), exactly, so a stalled network or event loop does not move the caller's speech: frames
 * that arrive in a burst after a stall land where they were spoken, however long the stall (each
 * follows the one before). A frame without a usable timestamp (missing, going backwards, or more than
 * {@linkcode MAX_STREAM_SKEW_MS} from its arrival without following the frame before it) is placed as
 * before, by arrival, joined to the caller audio before it. Agent audio that plays a
 * little early or late (the play-out estimate's jitter) is joined to what came before; a longer gap is
 * silence. A frame whose place was already written (later than the settle window) is dropped and
 * counted ({@linkcode CallRecorder.lateCallerFrames}).
 *
 * @module
 */

import type { CallTapListener } from "../relay/frame_tap.ts";
import { FRAME_BYTES, SAMPLE_RATE } from "./wav.ts";

/** Where a recorder's interleaved μ-law goes (the file, as the call goes). */
export interface RecordingSink {
  /**
   * Appends interleaved sample frames, a μ-law byte a channel. `frames` is a view of a buffer every
   * recorder reuses: write or copy it before returning, never keep it.
   */
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
/**
 * A caller frame's stream time further than this from its arrival, ms, is not believed: the frame is
 * placed by arrival instead (Twilio's timestamps are then wrong, or the offset taken from the first
 * frame was), unless it is late and follows the frame before it with no gap (a stall held it up).
 */
export const MAX_STREAM_SKEW_MS = 1000;
/**
 * A caller frame whose stream time is this close to where the frame before it ended continues the
 * stream, samples (rounding: the offset to call time is fractional).
 */
const CONTIGUOUS_SAMPLES = 1;
/** What stays unwritten behind the newest time heard, for caller frames that arrive late, samples. */
const SETTLE_SAMPLES = 200 * SAMPLES_PER_MS;
/**
 * Written once this much is final, samples (0.5 s: 8 KB a write). Writes every 160 ms would let a
 * channel start at 4 KB instead of 8, but cost about 3 % more CPU in the load bench (three times the
 * write syscalls): 8 KB a call was the cheaper price.
 */
const WRITE_SAMPLES = 500 * SAMPLES_PER_MS;
/** Agent audio scheduled further ahead than this is dropped (never happens with Twilio's buffer), samples. */
const MAX_AHEAD_SAMPLES = 10 * 60 * SAMPLE_RATE;

/** The μ-law byte of silence (decodes to 0): what a channel holds where nothing was heard. */
const SILENT = 0xff;
/**
 * Pending bytes a channel starts with: 1 s, the 0.7 s the caller's channel holds before a write and
 * room for agent audio queued up to 300 ms ahead of it.
 */
const INITIAL_PENDING = 8192;
/** Channel buffers of ended calls, kept for the next (no allocation, no heap churn per call). */
const SPARE_BUFFERS: Uint8Array[] = [];
/** Spare channel buffers kept at most (512 KB). */
const MAX_SPARE_BUFFERS = 64;
/** What a channel holds once its call ended and its buffer went back to the spares. */
const RELEASED = new Uint8Array(0);
/**
 * A channel buffer this large (grown by an answer queued 2 s or more ahead) shrinks back once written;
 * smaller ones stay (an agent a few hundred ms ahead would otherwise grow and shrink it every write).
 */
const SHRINK_FROM = 4 * INITIAL_PENDING;

/**
 * Where every recorder interleaves the bytes it writes: one buffer for the process, since a sink's
 * `write` is synchronous and keeps nothing (no allocation per write, nothing held per call).
 */
const INTERLEAVED = new Uint8Array(FRAME_BYTES * WRITE_SAMPLES);

/** `Uint8Array.prototype.setFromBase64` (TC39, in V8): decodes base64 natively, in place. */
type Base64Target = Uint8Array & { setFromBase64(text: string): { read: number; written: number } };

/**
 * One channel's not-yet-written audio, kept as the μ-law bytes it came in (half the memory of
 * samples; decoded once, when written): index 0 is the recorder's `written` position. Everything past
 * `end` is silence.
 */
class PendingChannel {
  bytes = SPARE_BUFFERS.pop() ?? new Uint8Array(INITIAL_PENDING).fill(SILENT);
  /** Absolute sample where this channel's audio ends so far. */
  end = 0;

  /** Makes room up to absolute sample `upTo` (from `written`). */
  reserve(written: number, upTo: number): void {
    const need = upTo - written;
    if (need <= this.bytes.length) return;
    let size = this.bytes.length;
    while (size < need) size *= 2;
    const grown = new Uint8Array(size).fill(SILENT, this.bytes.length);
    grown.set(this.bytes);
    this.bytes = grown;
  }

  /** Writes base64 μ-law `payload` at absolute sample `at`; returns the samples written. */
  put(written: number, at: number, payload: string): number {
    const from = at - written;
    this.reserve(written, at + Math.ceil((payload.length * 3) / 4));
    let count: number;
    try {
      count = (this.bytes.subarray(from) as Base64Target).setFromBase64(payload).written;
    } catch {
      return 0; // not base64 (Twilio and OpenAI send nothing else): heard as silence
    }
    this.end = Math.max(this.end, at + count);
    return count;
  }

  /** Silence from absolute sample `from` on. */
  clearFrom(written: number, from: number): void {
    const start = Math.max(0, from - written);
    const live = Math.min(this.bytes.length, this.end - written);
    if (start < live) this.bytes.fill(SILENT, start, live);
    this.end = Math.min(this.end, Math.max(from, written));
  }

  /**
   * Drops the first `count` bytes (written at `written`), moving only what holds audio; a buffer a long
   * queued answer grew ({@linkcode SHRINK_FROM}) goes back to its first size once that answer is written.
   */
  shift(written: number, count: number): void {
    const live = Math.min(this.bytes.length, this.end - written);
    const left = Math.max(0, live - count);
    if (this.bytes.length >= SHRINK_FROM && left <= INITIAL_PENDING / 2) {
      const small = new Uint8Array(INITIAL_PENDING).fill(SILENT, left);
      small.set(this.bytes.subarray(count, count + left));
      this.bytes = small;
      return;
    }
    if (live <= 0) return;
    if (live > count) this.bytes.copyWithin(0, count, live);
    this.bytes.fill(SILENT, left, live);
  }

  /** The call ended and everything was written: the buffer goes to the next call, silent. */
  release(): void {
    const bytes = this.bytes;
    this.bytes = RELEASED;
    if (bytes.length !== INITIAL_PENDING || SPARE_BUFFERS.length >= MAX_SPARE_BUFFERS) return;
    bytes.fill(SILENT);
    SPARE_BUFFERS.push(bytes);
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
  /** Where the caller's last frame placed by stream time went, samples (-1: none yet). */
  #lastStreamPos = -1;
  /** Where the caller's last frame placed by stream time ended, samples (-1: none yet). */
  #lastStreamEnd = -1;
  #lateCallerFrames = 0;

  /** A recorder writing to `sink`. */
  constructor(sink: RecordingSink) {
    this.#sink = sink;
  }

  /** Caller frames dropped because their place (by stream time) was already written. */
  get lateCallerFrames(): number {
    return this.#lateCallerFrames;
  }

  /**
   * A caller frame that arrived `at` ms into the call, spoken `streamAt` ms into it by Twilio's clock:
   * placed at `streamAt` exactly when that is plausible, else by arrival.
   */
  callerFrame(at: number, payload: string, streamAt?: number): void {
    if (this.#ended) return;
    if (streamAt !== undefined) {
      const pos = Math.round(streamAt * SAMPLES_PER_MS);
      if (pos > this.#lastStreamPos && this.#believable(pos, streamAt, at)) {
        this.#lastStreamPos = pos;
        if (pos < this.#written) this.#lateCallerFrames++;
        else this.#lastStreamEnd = pos + this.#caller.put(this.#written, pos, payload);
        // A frame that comes late after a stall moves time on only as far as when it was spoken, so
        // the frames of the burst behind it still find their places unwritten.
        this.#advance(Math.min(at, streamAt));
        return;
      }
    }
    const pos = this.#place(this.#caller, at, CALLER_JOIN_SAMPLES);
    this.#caller.put(this.#written, pos, payload);
    this.#advance(at);
  }

  /**
   * True when a caller frame's stream time (`streamAt`, at sample `pos`) is to be believed: within
   * {@linkcode MAX_STREAM_SKEW_MS} of its arrival `at`, or late by more but following the frame placed
   * before it by stream time with no gap: the stream goes on, held up (a stall longer than the bound),
   * and a burst of held frames must not go half by arrival, moving time on past the places of the rest.
   */
  #believable(pos: number, streamAt: number, at: number): boolean {
    const late = at - streamAt;
    if (Math.abs(late) <= MAX_STREAM_SKEW_MS) return true;
    return late > 0 && Math.abs(pos - this.#lastStreamEnd) <= CONTIGUOUS_SAMPLES;
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
    this.#caller.release();
    this.#agent.release();
    this.#sink.finish(this.#written * FRAME_BYTES, (this.#written / SAMPLE_RATE) * 1000);
  }

  /** Where audio timed `atMs` goes on `channel`: joined to its end within `join`, else at its time. */
  #place(channel: PendingChannel, atMs: number, join: number): number {
    const at = Math.round(atMs * SAMPLES_PER_MS);
    const end = Math.max(channel.end, this.#written);
    return Math.abs(at - end) <= join || at < this.#written ? end : at;
  }

  /**
   * Time moved on to `atMs`: writes what is final, in whole writes of {@linkcode WRITE_SAMPLES} (the
   * rest waits for the next): each write costs a system call whatever its size, so a half second
   * followed by the few frames past it would be two.
   */
  #advance(atMs: number): void {
    this.#now = Math.max(this.#now, Math.round(atMs * SAMPLES_PER_MS));
    const final = this.#now - SETTLE_SAMPLES;
    const whole = final - this.#written - ((final - this.#written) % WRITE_SAMPLES);
    if (whole > 0) this.#flush(this.#written + whole);
  }

  /** Hands samples from `written` up to `upTo` to the sink, interleaved, at most 0.5 s a write. */
  #flush(upTo: number): void {
    while (this.#written < upTo) {
      const count = Math.min(upTo - this.#written, WRITE_SAMPLES);
      this.#caller.reserve(this.#written, this.#written + count);
      this.#agent.reserve(this.#written, this.#written + count);
      const left = this.#caller.bytes;
      const right = this.#agent.bytes;
      const out = INTERLEAVED;
      for (let i = 0, o = 0; i < count; i++, o += 2) {
        out[o] = left[i]!;
        out[o + 1] = right[i]!;
      }
      this.#sink.write(out.subarray(0, count * FRAME_BYTES));
      this.#caller.shift(this.#written, count);
      this.#agent.shift(this.#written, count);
      this.#written += count;
    }
  }
}
