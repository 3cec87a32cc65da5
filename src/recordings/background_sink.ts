/**
 * A recording sink whose file work runs off the event loop: opening the file, each write and the
 * final header go through Deno's asynchronous file API (a thread of its own), one after the other in
 * the order the recorder gave them. A disk that stalls (another process's fsyncs, a full journal) then
 * delays the file, never the calls' audio.
 *
 * The recorder hands over a view of its shared buffer (`call_recorder.ts`): each write is copied into a
 * buffer from a pool every recording shares, given back once the disk has taken it, so a call holds no
 * write buffer of its own and a write allocates nothing once the pool is warm.
 *
 * @module
 */

import type { RecordingSink } from "./call_recorder.ts";
import { writeAll } from "./wav.ts";

/** A write's buffer: 0.5 s of two 16-bit channels at 8 kHz. */
const BUFFER_BYTES = 16_000;
/** Buffers kept for reuse (more only while disks are slow). */
const POOL_SIZE = 32;
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

/** What a background sink does with its file, each step awaited in order. */
export interface BackgroundFileSteps {
  /** Creates what the recording needs and opens its file, positioned for the first write. */
  begin(): Promise<Deno.FsFile>;
  /** The call ended: finishes and closes `file` (`dataBytes` written, lasting `durationMs`). */
  end(file: Deno.FsFile, dataBytes: number, durationMs: number): Promise<void>;
  /** The first failure (the rest of the recording is dropped); the call goes on. */
  onError(error: unknown): void;
  /** Hears each piece of work, to wait for it on shutdown. */
  track(work: Promise<unknown>): void;
}

/**
 * A sink running `steps` in the background, in order.
 *
 * @example
 * ```ts
 * const sink = backgroundSink({ begin: () => Deno.open(path, { write: true, create: true }), end, onError, track });
 * ```
 */
export function backgroundSink(steps: BackgroundFileSteps): RecordingSink {
  let failed = false;
  const fail = (error: unknown) => {
    if (failed) return;
    failed = true;
    steps.onError(error);
  };
  const opened = steps.begin();
  let chain: Promise<Deno.FsFile | undefined> = opened.catch((error) => {
    fail(error);
    return undefined;
  });
  steps.track(chain);
  return {
    write(frames) {
      if (failed) return;
      const buffer = take(frames.length);
      buffer.set(frames);
      const length = frames.length;
      chain = chain.then(async (file) => {
        if (file === undefined || failed) return file;
        try {
          await writeAll(file, buffer.subarray(0, length));
          giveBack(buffer);
        } catch (error) {
          fail(error);
        }
        return file;
      });
      steps.track(chain);
    },
    finish(dataBytes, durationMs) {
      const done = chain.then(async (file) => {
        if (file === undefined) return;
        if (failed) {
          file.close();
          return;
        }
        await steps.end(file, dataBytes, durationMs).catch(fail);
      });
      chain = done.then(() => undefined);
      steps.track(done);
    },
  };
}
