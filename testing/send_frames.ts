/**
 * The caller talking: 20 ms media frames sent in real time, as a phone sends them, until a
 * promise settles or a length of audio has gone out. One helper for every test that talks.
 *
 * @module
 */

/** How much audio one caller frame holds, and how long to wait between frames, ms. */
export const CALLER_FRAME_MS = 20;

/** Anything that takes a caller frame: a {@linkcode FakeTwilioCall}, or an adapter to a raw socket. */
export interface FrameSink {
  /** Sends one 20 ms frame of μ-law audio. */
  sendMedia(bytes: Uint8Array): void;
}

/** What to send and when to stop; give `until`, `forMs`, or both (the first to come ends it). */
export interface SendFramesOptions {
  /** The frame to send, or a function of how many ms of audio went before it (0, 20, 40, …). */
  frame: Uint8Array | ((ms: number) => Uint8Array);
  /** Stop once this settles; it is then awaited, so its rejection is the helper's. */
  until?: Promise<unknown>;
  /** Stop after this many ms of audio (frames × 20 ms). */
  forMs?: number;
}

/**
 * Sends a frame every 20 ms (real time) until `until` settles or `forMs` of audio went out, then
 * awaits `until` if given.
 *
 * @throws {TypeError} when neither `until` nor `forMs` says when to stop.
 */
export async function sendFrames(sink: FrameSink, options: SendFramesOptions): Promise<void> {
  const { frame, until, forMs = Infinity } = options;
  if (until === undefined && !Number.isFinite(forMs)) {
    throw new TypeError("sendFrames: give `until` or a finite `forMs`, or it would talk forever");
  }
  let done = false;
  until?.then(() => done = true, () => done = true);
  for (let ms = 0; !done && ms < forMs; ms += CALLER_FRAME_MS) {
    sink.sendMedia(typeof frame === "function" ? frame(ms) : frame);
    await new Promise((resolve) => setTimeout(resolve, CALLER_FRAME_MS));
  }
  await until;
}
