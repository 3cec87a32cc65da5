/**
 * The frame tap: observers of one call's audio, for a recorder (two channels: left the caller, right
 * the agent as the caller heard it) or anything else that listens.
 *
 * Every time is call time: ms since the stream's `start` reached the relay (monotonic clock).
 * - {@linkcode CallTapListener.callerFrame}: each caller frame forwarded upstream, in order, when it
 *   arrived, and when it was spoken (`streamAt`: Twilio's `media.timestamp` in call time, see
 *   {@linkcode CallTap}).
 * - {@linkcode CallTapListener.agentAudio}: each chunk of agent audio sent to Twilio, with where it
 *   plays out (`playAt`: the end of what Twilio had queued, or now if its buffer was empty) and its
 *   position in its item (`itemMs`: the number the playback clock's marks carry, `<itemId>:<ms>`).
 * - {@linkcode CallTapListener.agentCut}: Twilio was cleared (barge-in, stale audio, lost session)
 *   at `at`: nothing scheduled after `at` was heard, and each cut item was heard up to `heardMs`
 *   (the `audio_end_ms` of the engine's truncate).
 *
 * A recorder writes caller frames at `streamAt` (or `at` when Twilio's timestamps are missing or bad), agent chunks at `playAt`, and on a cut overwrites the
 * agent channel from `at` on with silence. What it must hold is only what Twilio has queued but not
 * yet played, never the whole call.
 *
 * Zero-copy: payloads are Twilio's base64 μ-law strings as they pass through (decode with
 * {@linkcode tapPayloadBytes} only if needed). With no tap, the relay does nothing per frame but
 * test one field; with a tap, it calls the listener with positional arguments (no object per frame).
 * A listener should not block; one that throws is detached from the call and logged, and the call
 * goes on.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { InterruptedItem } from "./playback_clock.ts";
import { errorText } from "../log.ts";

/** What a tap learns about a call when its stream starts. */
export interface TappedCall {
  callSid: string;
  streamSid: string;
  /** The persona serving the call. */
  persona: string;
}

/** What was cut of one item of agent audio. */
export interface TapCutItem {
  itemId: string;
  /** What the caller heard of the item, ms (the truncate's `audio_end_ms`). */
  heardMs: number;
  /** What was sent of the item, ms. */
  sentMs: number;
}

/** Observes one call's frames. Every method is optional; each is called on the relay's hot path. */
export interface CallTapListener {
  /**
   * A caller frame (base64 μ-law, 8 kHz) that arrived `at` ms into the call, spoken `streamAt` ms into
   * the call by Twilio's clock (undefined when the frame had no usable `media.timestamp`).
   */
  callerFrame?(at: number, payload: string, streamAt?: number): void;
  /**
   * A chunk of agent audio (base64 μ-law) that plays out `playAt` ms into the call, at `itemMs` ms
   * into item `itemId`.
   */
  agentAudio?(playAt: number, itemId: string, itemMs: number, payload: string): void;
  /** Twilio was cleared `at` ms into the call: audio scheduled after `at` was never heard. */
  agentCut?(at: number, items: readonly TapCutItem[]): void;
  /** The call ended `at` ms into the call: no more calls follow. */
  ended?(at: number): void;
}

/**
 * Attaches listeners to calls: called once per call at the stream's `start`. Return undefined to
 * leave the call untapped (then the call costs nothing extra).
 */
export type FrameTap = (call: TappedCall) => CallTapListener | undefined;

/** The bytes of a tapped payload (base64 μ-law), decoded on demand. */
export function tapPayloadBytes(payload: string): Uint8Array {
  return Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
}

/**
 * One call's tap, converting the relay's monotonic times to call time. A listener that throws is
 * detached (it hears nothing more of the call) and reported once: the call goes on.
 *
 * Twilio's `media.timestamp` (ms since the stream started, on Twilio's clock) becomes call time by
 * one offset, taken from the first frame that carries one: its arrival (call time) minus its
 * timestamp. Not from the `start` message: Twilio's timestamps need not start where `start` reached
 * the relay (a fake, or a stream whose first frames were dropped upstream of us), and the first
 * frame's arrival is the one time known to be on both clocks. The offset never changes after, so the
 * caller's frames keep Twilio's spacing exactly, however late any of them arrives.
 */
export class CallTap {
  readonly #listener: CallTapListener;
  readonly #startedAt: number;
  readonly #onError: (error: unknown) => void;
  #failed = false;
  /** Call time minus Twilio's stream time, ms; NaN until a frame with a timestamp arrived. */
  #streamOffset = NaN;

  /** A tap for a stream that started at `startedAt` (monotonic ms); `onError` hears a listener's throw. */
  constructor(listener: CallTapListener, startedAt: number, onError: (error: unknown) => void = () => {}) {
    this.#listener = listener;
    this.#startedAt = startedAt;
    this.#onError = onError;
  }

  /** A caller frame went upstream at `now`, stamped `timestamp` by Twilio (ms of stream time), if at all. */
  callerFrame(now: number, payload: string, timestamp: number | undefined): void {
    if (this.#failed) return;
    const at = now - this.#startedAt;
    let streamAt: number | undefined;
    if (timestamp !== undefined) {
      if (Number.isNaN(this.#streamOffset)) this.#streamOffset = at - timestamp;
      streamAt = timestamp + this.#streamOffset;
    }
    try {
      this.#listener.callerFrame?.(at, payload, streamAt);
    } catch (error) {
      this.#fail(error);
    }
  }

  /** Agent audio sent at `now` with `queuedMs` still unplayed ahead of it, at `itemMs` into its item. */
  agentAudio(now: number, queuedMs: number, itemId: string, itemMs: number, payload: string): void {
    if (this.#failed) return;
    try {
      this.#listener.agentAudio?.(now + queuedMs - this.#startedAt, itemId, itemMs, payload);
    } catch (error) {
      this.#fail(error);
    }
  }

  /** Twilio was cleared at `now`, cutting `items`. */
  agentCut(now: number, items: readonly InterruptedItem[]): void {
    if (this.#failed || items.length === 0) return;
    const cut = items.map(({ itemId, heardMs, sentMs }) => ({ itemId, heardMs, sentMs }));
    try {
      this.#listener.agentCut?.(now - this.#startedAt, cut);
    } catch (error) {
      this.#fail(error);
    }
  }

  /** The call ended at `now`. */
  ended(now: number): void {
    if (this.#failed) return;
    try {
      this.#listener.ended?.(now - this.#startedAt);
    } catch (error) {
      this.#fail(error);
    }
  }

  #fail(error: unknown): void {
    this.#failed = true;
    this.#onError(error);
  }
}

/**
 * The tap of a call whose stream started at `startedAt` (monotonic ms), or undefined when `tap` is unset
 * or does not listen to this call. A listener that throws is reported once on `log`.
 */
export function tapCall(
  tap: FrameTap | undefined,
  start: { callSid: string; streamSid: string },
  persona: string,
  startedAt: number,
  log: Logger,
): CallTap | undefined {
  const listener = tap?.({ callSid: start.callSid, streamSid: start.streamSid, persona });
  if (listener === undefined) return undefined;
  return new CallTap(listener, startedAt, (error) => {
    const why = errorText(error);
    log.warn(`The frame tap failed on CallSid=${start.callSid}: ${why}; it hears no more of this call`);
  });
}
