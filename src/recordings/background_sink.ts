/**
 * A recording sink whose slow file work runs off the event loop: creating the folder, writing the
 * state and opening the file (metadata operations, the ones a busy disk's journal stalls) go through
 * Deno's asynchronous file API, a thread of its own; a call's audio never waits for them. The writes
 * themselves, 8 KB every half second into the page cache, stay synchronous (cheaper than a thread
 * hand-off each), in the order the recorder gave them.
 *
 * Until the file is open, writes wait in buffers from a pool every recording shares (the recorder hands
 * over a view of a buffer it reuses at once), given back once written: a call holds no write buffer of
 * its own.
 *
 * @module
 */

import type { RecordingSink } from "./call_recorder.ts";
import { writeAllSync } from "./wav.ts";

/** A waiting write's buffer: 0.5 s of two μ-law channels at 8 kHz (the recorder's largest write). */
const BUFFER_BYTES = 8_000;
/** Buffers kept for reuse. */
const POOL_SIZE = 16;
const pool: Uint8Array[] = [];

function take(size: number): Uint8Array {
  const buffer = pool.pop();
  return buffer !== undefined && buffer.length >= size
    ? buffer
    : new Uint8Array(Math.max(size, BUFFER_BYTES));
}

function giveBack(buffer: Uint8Array): void {
  if (pool.length < POOL_SIZE && buffer.length === BUFFER_BYTES) pool.push(buffer);
}

/** What a background sink does with its file. */
export interface BackgroundFileSteps {
  /** Creates what the recording needs and opens its file, positioned for the first write. */
  begin(): Promise<Deno.FsFile>;
  /** The call ended: finishes and closes `file` (`dataBytes` written, lasting `durationMs`). */
  end(file: Deno.FsFile, dataBytes: number, durationMs: number): Promise<void>;
  /**
   * The call ended after a write failed: closes `file` and keeps what it holds (the next start would
   * repair it otherwise).
   */
  salvage(file: Deno.FsFile): Promise<void>;
  /** The first failure (the rest of the recording is dropped), then a failed salvage; the call goes on. */
  onError(error: unknown): void;
  /** Hears each piece of background work, to wait for it on shutdown. */
  track(work: Promise<unknown>): void;
}

/**
 * A sink over `steps`: writes go straight to the file once `begin` has opened it, and wait in order
 * until then.
 *
 * @example
 * ```ts
 * const sink = backgroundSink({ begin: () => Deno.open(path, { write: true, create: true }), end, onError, track });
 * ```
 */
export function backgroundSink(steps: BackgroundFileSteps): RecordingSink {
  let file: Deno.FsFile | undefined;
  let failed = false;
  /** Writes handed over before the file was open: buffer and length, in order. */
  let waiting: [Uint8Array, number][] | undefined = [];
  let ending: (() => void) | undefined;

  const fail = (error: unknown) => {
    if (failed) return;
    failed = true;
    steps.onError(error);
  };
  const write = (bytes: Uint8Array) => {
    try {
      writeAllSync(file!, bytes);
    } catch (error) {
      fail(error);
    }
  };

  steps.track(
    steps.begin().then((opened) => {
      file = opened;
      for (const [buffer, length] of waiting!) {
        if (!failed) write(buffer.subarray(0, length));
        giveBack(buffer);
      }
      waiting = undefined;
      ending?.();
    }, (error) => {
      fail(error);
      waiting = undefined;
      ending?.();
    }),
  );

  return {
    write(frames) {
      if (failed) return;
      if (waiting === undefined) {
        write(frames);
        return;
      }
      const buffer = take(frames.length);
      buffer.set(frames);
      waiting.push([buffer, frames.length]);
    },
    finish(dataBytes, durationMs) {
      const end = () => {
        if (file === undefined) return;
        if (failed) steps.track(steps.salvage(file).catch((error) => steps.onError(error)));
        else steps.track(steps.end(file, dataBytes, durationMs).catch(fail));
      };
      if (waiting === undefined) end();
      else ending = end;
    },
  };
}
