/**
 * `GET /api/calls/:callSid/recording`: the call's two-channel WAV (`audio/wav`), with byte ranges
 * (`Range: bytes=a-b`, `a-`, `-n`; 206 with `Content-Range`, 416 for a range past the end) so a
 * browser's `<audio>` can seek. `X-Recording-State` says `complete` or `repaired` (a crash left the
 * file and startup fixed its header). 404 when the call has no recording, 409 while it is recording.
 *
 * @module
 */

import { jsonError } from "../http/responses.ts";
import type { RecordingSource } from "../recordings/serve_wav.ts";
import type { RecordingSummary } from "./types.ts";

/** The recording route's handler, reading recordings from `source`. */
export function createRecordingHandler(
  source: RecordingSource,
): (request: Request, context: { params: Record<string, string> }) => Promise<Response> {
  return async (request, { params }) => {
    let callSid: string;
    try {
      callSid = decodeURIComponent(params.callSid ?? "");
    } catch {
      return jsonError(400, `Invalid callSid "${params.callSid}": bad percent-encoding`);
    }
    const info = await source.info(callSid);
    if (info === undefined) return jsonError(404, `Call ${JSON.stringify(callSid)} has no recording`);
    if (info.state === "recording") {
      return jsonError(409, `Call ${JSON.stringify(callSid)} is still being recorded: try when it has ended`);
    }
    return await source.serve(callSid, info, request.headers.get("Range"));
  };
}

/** How `GET /api/calls/:callSid` describes a call's recording in `recordings` (undefined: none). */
export function recordingSummaryOf(
  recordings: Pick<RecordingSource, "info">,
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
