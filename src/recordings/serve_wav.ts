/**
 * Serving a recording's bytes: from a WAV file with byte ranges (`Range: bytes=a-b`, `a-`, `-n`; 206
 * with `Content-Range`, 416 past the end), and the {@linkcode RecordingSource} the route reads.
 *
 * @module
 */

import type { RecordingInfo, RecordingsDir, RecordingState } from "./recordings_dir.ts";

/** A byte range of a file of `size` bytes, inclusive. */
interface ByteRange {
  start: number;
  end: number;
}

/**
 * The range a `Range` header asks of a file of `size` bytes: undefined for the whole file (no header,
 * or one this server does not serve, like several ranges), `"unsatisfiable"` past the end.
 */
export function parseRange(header: string | null, size: number): ByteRange | "unsatisfiable" | undefined {
  if (header === null) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null || (match[1] === "" && match[2] === "")) return undefined;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}

/** Where the route finds recordings: the folder, or the folder and an S3 bucket. */
export interface RecordingSource {
  /** The recording's state, or undefined when the call has none. */
  info(callSid: string): Promise<RecordingInfo | undefined>;
  /** Its bytes (a `Range` header honoured), for a recording `info` found complete or repaired. */
  serve(callSid: string, info: RecordingInfo, range: string | null): Promise<Response>;
}

/** The headers every recording answer carries. */
export function recordingHeaders(state: RecordingState): Headers {
  return new Headers({
    "Content-Type": "audio/wav",
    "Accept-Ranges": "bytes",
    "Cache-Control": "private, no-store",
    "X-Recording-State": state,
  });
}

/** Serves the WAV at `path` (a recording in `state`), honouring a `Range` header. */
export async function serveWavFile(
  path: string,
  state: RecordingState,
  rangeHeader: string | null,
): Promise<Response> {
  const file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  const headers = recordingHeaders(state);
  const range = parseRange(rangeHeader, size);
  if (range === "unsatisfiable") {
    file.close();
    headers.set("Content-Range", `bytes */${size}`);
    return new Response(null, { status: 416, headers });
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  headers.set("Content-Length", String(Math.max(0, end - start + 1)));
  if (range !== undefined) headers.set("Content-Range", `bytes ${start}-${end}/${size}`);
  if (size === 0) {
    file.close();
    return new Response(null, { status: range === undefined ? 200 : 206, headers });
  }
  await file.seek(start, Deno.SeekMode.Start);
  return new Response(sliceOf(file, end - start + 1), { status: range === undefined ? 200 : 206, headers });
}

/** The folder as a {@linkcode RecordingSource}. */
export function folderSource(recordings: RecordingsDir): RecordingSource {
  return {
    info: (callSid) => recordings.info(callSid),
    serve: (callSid, info, range) => serveWavFile(recordings.wavPath(callSid), info.state, range),
  };
}

/** `length` bytes of `file` from its position, as a stream that closes the file. */
function sliceOf(file: Deno.FsFile, length: number): ReadableStream<Uint8Array> {
  let left = length;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const buffer = new Uint8Array(Math.min(64 * 1024, left));
      const read = await file.read(buffer);
      if (read === null || read === 0) {
        file.close();
        controller.close();
        return;
      }
      left -= read;
      controller.enqueue(buffer.subarray(0, read));
      if (left <= 0) {
        file.close();
        controller.close();
      }
    },
    cancel() {
      file.close();
    },
  });
}
