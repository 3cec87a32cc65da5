/**
 * The globals of the AudioWorkletGlobalScope that `mulaw_worklet.js` uses. TypeScript ships no lib for
 * that scope, so the worklet declares what it relies on here (one program checks all of `src/web/`,
 * so the page scripts see these names too: only the worklet may use them).
 *
 * @module
 */

/** The base class of an AudioWorklet processor: it talks to its node through `port`. */
declare class AudioWorkletProcessor {
  /** The other end is the `AudioWorkletNode`'s `port` on the page. */
  readonly port: MessagePort;
}

/** Makes `processor` constructible from the page as `new AudioWorkletNode(context, name)`. */
declare function registerProcessor(
  name: string,
  processor: new () => AudioWorkletProcessor,
): void;

/** The frame number of the block being processed (advances by 128 a render quantum). */
declare const currentFrame: number;
