/**
 * Twilio → upstream: the caller's frames to the engine, payload untouched, paced and bounded
 * ({@linkcode CallerAudioGate}), the keys they press, and Twilio frames that are wrong counted and
 * logged (rate-limited).
 *
 * @module
 */

import { excerpt } from "../log.ts";
import type { CallParts } from "./call_parts.ts";
import { isKeypadKey } from "./keypad_batcher.ts";

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

/**
 * A key the caller pressed (Twilio `dtmf`): logged, and to the call's actions. A digit that is no
 * keypad key is a malformed frame: counted, and logged now and then, so a stream of them is no flood.
 */
export function forwardKeyPress(p: CallParts, digit: string): void {
  // Twilio sends one key; anything longer is cut, so a frame cannot write a 64 KiB line.
  const line = `DTMF ${excerpt(digit, 40)} on ${p.report.label}`;
  if (!isKeypadKey(digit)) {
    p.options.counters.malformedFrames++;
    return p.log.warnRateLimited(`dtmf-${p.connectionId}`, `${line}: not a keypad key, ignored`);
  }
  p.log.info(line);
  p.actions?.dtmf(digit);
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
