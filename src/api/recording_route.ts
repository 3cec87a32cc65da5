/**
 * `GET /api/calls/:callSid/recording`: the call's two-channel WAV (`audio/wav`), with byte ranges
 * (`Range: bytes=a-b`, `a-`, `-n`; 206 with `Content-Range`, 416 for a range past the end) so a
 * browser's `<audio>` can seek. `X-Recording-State` says `complete` or `repaired` (a crash left the
 * file and startup fixed its header). 404 when the call has no recording, 409 while it is recording.
 *
 * @module
 */

import { jsonError } from "../http/responses.ts";
import type { RecordingsDir } from "../recordings/recordings_dir.ts";
import type { RecordingSummary } from "./types.ts";

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

/** The recording route's handler, reading recordings from `recordings`. */
export function createRecordingHandler(
  recordings: RecordingsDir,
): (request: Request, context: { params: Record<string, string> }) => Promise<Response> {
  return async (request, { params }) => {
    const callSid = decodeURIComponent(params.callSid ?? "");
    const info = await recordings.info(callSid);
    if (info === undefined) return jsonError(404, `Call ${JSON.stringify(callSid)} has no recording`);
    if (info.state === "recording") {
      return jsonError(409, `Call ${JSON.stringify(callSid)} is still being recorded: try when it has ended`);
    }
    const file = await Deno.open(recordings.wavPath(callSid), { read: true });
    const size = (await file.stat()).size;
    const headers = new Headers({
      "Content-Type": "audio/wav",
      "Accept-Ranges": "bytes",
      "Cache-Control": "private, no-store",
      "X-Recording-State": info.state,
    });
    const range = parseRange(request.headers.get("Range"), size);
    if (range === "unsatisfiable") {
      file.close();
      headers.set("Content-Range", `bytes */${size}`);
      return new Response(null, { status: 416, headers });
    }
    const { start, end } = range ?? { start: 0, end: size - 1 };
    headers.set("Content-Length", String(Math.max(0, end - start + 1)));
    if (range !== undefined) headers.set("Content-Range", `bytes ${start}-${end}/${size}`);
    if (request.method === "HEAD" || size === 0) {
      file.close();
      return new Response(null, { status: range === undefined ? 200 : 206, headers });
    }
    await file.seek(start, Deno.SeekMode.Start);
    return new Response(sliceOf(file, end - start + 1), { status: range === undefined ? 200 : 206, headers });
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

/** How `GET /api/calls/:callSid` describes a call's recording in `recordings` (undefined: none). */
export function recordingSummaryOf(
  recordings: RecordingsDir,
): (callSid: string) => Promise<RecordingSummary | undefined> {
  return async (callSid) => {
    const info = await recordings.info(callSid);
    if (info === undefined) return undefined;
    return {
      state: info.state,
      durationMs: info.durationMs,
      url: `/api/calls/${encodeURIComponent(callSid)}/recording`,
    };
  };
}
