/**
 * Twilio → upstream: the caller's frames to the engine, payload untouched, paced and bounded
 * ({@linkcode CallerAudioGate}), and Twilio frames that are wrong counted and logged (rate-limited).
 *
 * @module
 */

import { excerpt } from "../log.ts";
import type { CallParts } from "./call_parts.ts";

/**
 * A caller frame (base64 μ-law) for the call's stream `streamSid` (Twilio may omit it), stamped
 * `timestamp` ms of stream time (undefined when Twilio's was missing or bad). Hot path.
 */
export function forwardCallerFrame(
  p: CallParts,
  payload: string,
  streamSid: string | undefined,
  timestamp: number | undefined,
): void {
  const start = p.start;
  if (start === undefined) return reportMalformed(p, "media before start");
  if (streamSid !== undefined && streamSid !== start.streamSid) return dropForeignFrame(p, streamSid);
  if (p.keeper.replacing) return p.gate.drop("gap");
  if (!p.gate.admit(payload)) return;
  const dropped = p.session.sendAudio(payload);
  if (dropped !== undefined) return p.gate.drop(dropped);
  p.options.counters.framesToOpenai++;
  if (p.tap !== undefined) p.tap.callerFrame(p.now(), payload, timestamp);
}

/** A frame Twilio should not have sent: counted, and logged at most now and then. */
export function reportMalformed(p: CallParts, problem: string): void {
  p.options.counters.malformedFrames++;
  p.log.warnRateLimited(
    `malformed-${p.connectionId}`,
    `Ignored a malformed frame from Twilio on ${p.report.label}: ${problem}`,
  );
}

function dropForeignFrame(p: CallParts, streamSid: string): void {
  p.gate.drop("foreignStream");
  p.log.warnRateLimited(
    `foreign-stream-${p.connectionId}`,
    `Dropped a media frame for streamSid=${
      excerpt(streamSid, 64)
    } on ${p.report.label} (stream ${p.start?.streamSid})`,
  );
}
