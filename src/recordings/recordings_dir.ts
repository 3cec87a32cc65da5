/**
 * Recordings on disk, in `RECORDINGS_DIR`: `<CallSid>.wav` (written as the call goes, see
 * `call_recorder.ts`) beside `<CallSid>.json`, the recording's state:
 *
 * - `recording`: the call is (or was, when a crash stopped it) being recorded; the WAV's header sizes
 *   are not written yet;
 * - `complete`: the call ended and the header was patched;
 * - `repaired`: a crash left the file and startup fixed its header ({@linkcode RecordingsDir.repair}),
 *   or a write failed mid-call (a full disk) and the call's end did, keeping what was written.
 *
 * @module
 */

import { join } from "node:path";
import type { RecordingSink } from "./call_recorder.ts";
import { backgroundSink } from "./background_sink.ts";
import { repairWavHeader, wavHeader, writeAll, writeAllSync } from "./wav.ts";
import { errorText } from "../log.ts";
import { readWithin } from "../read_within.ts";

/** What a recording is now. */
export type RecordingState = "recording" | "complete" | "repaired";

/** A recording's sidecar (`<CallSid>.json`). */
export interface RecordingInfo {
  callSid: string;
  state: RecordingState;
  /** When the recording started, epoch ms. */
  startedAt: number;
  /** Its length once complete or repaired, ms. */
  durationMs: number | null;
}

/** CallSids as file names: Twilio's `CA…` and the softphone's ids, nothing that could leave the folder. */
const SAFE_CALL_SID = /^[A-Za-z0-9_-]{1,64}$/;

/** True when `callSid` can name a recording file. */
export function isRecordableCallSid(callSid: string): boolean {
  return SAFE_CALL_SID.test(callSid);
}

/**
 * How long a finished recording's announcement waits for its upload, ms: longer, and the instance that
 * has the local copy serves it until the upload ends.
 */
export const ANNOUNCE_WAIT_MS = 10_000;

/**
 * How often the final state of a recording that the disk refused (full) is tried again, ms: freeing
 * space finishes it without a restart.
 */
export const FINAL_STATE_RETRY_MS = 5_000;

/** Options of {@linkcode RecordingsDir}. */
export interface RecordingsDirOptions {
  /** @default ANNOUNCE_WAIT_MS */
  announceWaitMs?: number;
  /** @default FINAL_STATE_RETRY_MS */
  finalStateRetryMs?: number;
}

/** The recordings folder. */
export class RecordingsDir {
  /** The folder (created on the first recording). */
  readonly dir: string;
  readonly #now: () => number;

  /**
   * Hears each recording finished (complete, or repaired at startup): the S3 upload. The listeners
   * ({@linkcode subscribe}) hear of the recording once the promise it returns has settled, so the link
   * `recording.ready` carries works on every instance, or after {@linkcode RecordingsDirOptions.announceWaitMs}
   * if it takes longer (the local copy is served meanwhile).
   */
  onFinished: ((info: RecordingInfo) => void | Promise<void>) | undefined;
  readonly #announceWaitMs: number;
  readonly #finalStateRetryMs: number;
  readonly #finishListeners = new Set<(info: RecordingInfo) => void>();
  /** True once {@linkcode start} made the folder (made once, not per call). */
  #dirMade = false;
  /** File work of recordings started with {@linkcode start}, still under way. */
  readonly #pending = new Set<Promise<unknown>>();

  /** Recordings kept in `dir`; `now` gives epoch ms (tests). */
  constructor(dir: string, now: () => number = Date.now, options: RecordingsDirOptions = {}) {
    this.dir = dir;
    this.#now = now;
    this.#announceWaitMs = options.announceWaitMs ?? ANNOUNCE_WAIT_MS;
    this.#finalStateRetryMs = options.finalStateRetryMs ?? FINAL_STATE_RETRY_MS;
  }

  /**
   * Calls `listener` with each recording this process completes (after `onFinished`), e.g. the
   * `recording.ready` webhook. Returns the function that stops it.
   */
  subscribe(listener: (info: RecordingInfo) => void): () => void {
    this.#finishListeners.add(listener);
    return () => this.#finishListeners.delete(listener);
  }

  /** The WAV's path for `callSid`. */
  wavPath(callSid: string): string {
    return join(this.dir, `${callSid}.wav`);
  }

  #infoPath(callSid: string): string {
    return join(this.dir, `${callSid}.json`);
  }

  /**
   * Starts the recording of `callSid`: the WAV with an empty header, and its state `recording`, with
   * the slow file operations off the event loop (`background_sink.ts`): the folder, the state
   * `recording`, opening the WAV (with its empty header) and, at the end, the state `complete`; the
   * writes and the final header stay synchronous, in order. `onError` hears the first failure (the rest
   * of this recording is dropped; the call goes on); at the call's end what was written is kept, its
   * header fixed, as `repaired`. {@linkcode settle} waits for the work under way.
   * @throws {Error} for a CallSid that cannot name a file.
   */
  start(callSid: string, onError: (error: unknown) => void): RecordingSink {
    if (!isRecordableCallSid(callSid)) throw new Error(`CallSid "${callSid}" cannot name a recording file`);
    const info: RecordingInfo = { callSid, state: "recording", startedAt: this.#now(), durationMs: null };
    return backgroundSink({
      begin: async () => {
        if (!this.#dirMade) {
          await Deno.mkdir(this.dir, { recursive: true });
          this.#dirMade = true;
        }
        await this.#writeInfoAsync(info).catch((error) => {
          this.#dirMade = false; // removed since? made again by the next recording
          throw error;
        });
        const file = await Deno.open(this.wavPath(callSid), { write: true, create: true, truncate: true });
        try {
          await writeAll(file, wavHeader(0));
        } catch (error) {
          file.close();
          throw error;
        }
        return file;
      },
      end: async (file, dataBytes, durationMs) => {
        await this.#conclude(finishWav(file, info, dataBytes, durationMs), onError);
      },
      salvage: async (file) => {
        file.close();
        const durationMs = await repairWavHeader(this.wavPath(callSid));
        await this.#conclude({ ...info, state: "repaired", durationMs: Math.round(durationMs) }, onError);
      },
      onError,
      track: (work) => {
        this.#pending.add(work);
        work.finally(() => this.#pending.delete(work));
      },
    });
  }

  /** Resolves once the file work of every recording {@linkcode start}ed so far is done. */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** The recording's state, or undefined when `callSid` has none. */
  async info(callSid: string): Promise<RecordingInfo | undefined> {
    if (!isRecordableCallSid(callSid)) return undefined;
    try {
      return JSON.parse(await Deno.readTextFile(this.#infoPath(callSid))) as RecordingInfo;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  /**
   * Fixes the header of every recording a crash left in state `recording` and marks it `repaired`.
   * Call once at startup, before calls are taken. Returns the CallSids repaired.
   */
  async repair(): Promise<string[]> {
    // Every state read before any is changed: a sidecar that is not JSON stops the repair (naming
    // its file) with nothing repaired yet, so the next start repairs (and announces) them all.
    const crashed: RecordingInfo[] = [];
    for (const callSid of await this.#callSids()) {
      const info = await named(this.#infoPath(callSid), this.info(callSid));
      if (info?.state === "recording") crashed.push(info);
    }
    for (const info of crashed) {
      const wav = this.wavPath(info.callSid);
      let durationMs = 0;
      try {
        durationMs = await repairWavHeader(wav);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw namedError(wav, error);
        await named(wav, Deno.writeFile(wav, wavHeader(0))); // the crash came before the header
      }
      this.#writeInfo({ ...info, state: "repaired", durationMs: Math.round(durationMs) });
    }
    return crashed.map((info) => info.callSid);
  }

  /** Every recording that is complete or repaired, oldest CallSid first. */
  async finished(): Promise<RecordingInfo[]> {
    const found: RecordingInfo[] = [];
    for (const callSid of await this.#callSids()) {
      const info = await this.info(callSid);
      if (info !== undefined && info.state !== "recording") found.push(info);
    }
    return found;
  }

  /** Removes a recording's files (after it was stored elsewhere). */
  async remove(callSid: string): Promise<void> {
    await Deno.remove(this.wavPath(callSid)).catch(ignoreNotFound);
    await Deno.remove(this.#infoPath(callSid)).catch(ignoreNotFound);
  }

  /**
   * Deletes the recordings started more than `days` days ago (not one still recording). Returns the
   * CallSids deleted.
   */
  async deleteOlderThan(days: number): Promise<string[]> {
    const cutoff = this.#now() - days * 86_400_000;
    const deleted: string[] = [];
    for (const callSid of await this.#callSids()) {
      const info = await this.info(callSid);
      if (info === undefined || info.state === "recording" || info.startedAt >= cutoff) continue;
      await this.remove(callSid);
      deleted.push(callSid);
    }
    return deleted;
  }

  async #callSids(): Promise<string[]> {
    const sids: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.dir)) {
        const match = /^(.+)\.json$/.exec(entry.name);
        if (entry.isFile && match !== null && isRecordableCallSid(match[1]!)) sids.push(match[1]!);
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    return sids.sort();
  }

  /**
   * Writes a finished recording's state, then announces it. When the disk refuses the state (full: a
   * new file cannot be made, while the WAV's header is patched in place), the recording stays
   * `recording` on disk and the state is tried again every {@linkcode FINAL_STATE_RETRY_MS} in the
   * background, announced once written; the first failure is thrown, for the call's report (`onError`
   * hears a failed announcement after that). A process that stops first leaves it to the next start's
   * repair.
   */
  async #conclude(info: RecordingInfo, onError: (error: unknown) => void): Promise<void> {
    try {
      await this.#writeInfoAsync(info);
    } catch (error) {
      this.#concludeLater(info, onError);
      throw new Error(
        `its final state (${info.state}) could not be written (${errorText(error)}): tried again every ${
          this.#finalStateRetryMs / 1000
        } s, so the recording is finished once the folder has room`,
        { cause: error },
      );
    }
    await this.#finished(info);
  }

  #concludeLater(info: RecordingInfo, onError: (error: unknown) => void): void {
    const timer = setTimeout(() => {
      this.#writeInfoAsync(info).then(
        () => this.#finished(info).catch(onError),
        () => this.#concludeLater(info, onError),
      );
    }, this.#finalStateRetryMs);
    Deno.unrefTimer(timer); // never what keeps a stopping process alive
  }

  async #finished(info: RecordingInfo): Promise<void> {
    const upload = this.onFinished?.(info);
    // A failed or slow upload is the uploader's to report (the local copy stays and is served).
    if (upload instanceof Promise) await readWithin(upload, this.#announceWaitMs).catch(() => {});
    for (const listener of this.#finishListeners) listener(info);
  }

  async #writeInfoAsync(info: RecordingInfo): Promise<void> {
    const path = this.#infoPath(info.callSid);
    await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(info));
    await Deno.rename(`${path}.tmp`, path);
  }

  #writeInfo(info: RecordingInfo): void {
    // Written whole then renamed: a crash never leaves half a state.
    const path = this.#infoPath(info.callSid);
    Deno.writeTextFileSync(`${path}.tmp`, JSON.stringify(info));
    Deno.renameSync(`${path}.tmp`, path);
  }
}

/** `error` as an Error whose message starts with `path`, the file it is about. */
function namedError(path: string, error: unknown): Error {
  return new Error(`${path}: ${errorText(error)}`, { cause: error });
}

/** `work`, failing with {@linkcode namedError} of `path`. */
function named<T>(path: string, work: Promise<T>): Promise<T> {
  return work.catch((error) => {
    throw namedError(path, error);
  });
}

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
}

/**
 * Writes the final header of a recording's WAV (`dataBytes` of audio) and closes it; returns the
 * recording's state `complete`, lasting `durationMs`.
 */
function finishWav(
  file: Deno.FsFile,
  info: RecordingInfo,
  dataBytes: number,
  durationMs: number,
): RecordingInfo {
  try {
    file.seekSync(0, Deno.SeekMode.Start);
    writeAllSync(file, wavHeader(dataBytes));
  } finally {
    file.close();
  }
  return { ...info, state: "complete", durationMs: Math.round(durationMs) };
}
