/**
 * The frame tap that records: a call whose persona says `record: true` gets a
 * {@linkcode CallRecorder} writing to `RECORDINGS_DIR` in the background (`RecordingsDir.start`); other
 * calls are not tapped (and cost nothing).
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { PersonaRegistry } from "../personas/types.ts";
import type { CallTapListener, FrameTap } from "../relay/frame_tap.ts";
import { CallRecorder } from "./call_recorder.ts";
import type { RecordingsDir } from "./recordings_dir.ts";
import { errorText } from "../log.ts";

/** A tap recording the calls of personas with `record: true` into `recordings`. */
export function recordingTap(recordings: RecordingsDir, personas: PersonaRegistry, log: Logger): FrameTap {
  return (call) => {
    if (personas.get(call.persona)?.persona.record !== true) return undefined;
    const refuse = (error: unknown) => {
      const detail = errorText(error);
      log.error(
        `Cannot record call ${call.callSid}: ${detail} (RECORDINGS_DIR=${recordings.dir}); the call goes on`,
      );
    };
    try {
      // Opening the file runs off the event loop: a busy disk never holds up a call's audio.
      const recorder = new CallRecorder(recordings.start(call.callSid, refuse));
      log.info(`Recording call ${call.callSid} (persona ${call.persona}) to ${recordings.dir}`);
      return recorder;
    } catch (error) {
      refuse(error);
      return undefined;
    }
  };
}

/** Both taps on every call (either may be undefined). */
export function bothTaps(a: FrameTap | undefined, b: FrameTap | undefined): FrameTap | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return (call) => {
    const first = a(call);
    const second = b(call);
    if (first === undefined || second === undefined) return first ?? second;
    return pairedListener(first, second);
  };
}

function pairedListener(a: CallTapListener, b: CallTapListener): CallTapListener {
  return {
    callerFrame(at, payload, streamAt) {
      a.callerFrame?.(at, payload, streamAt);
      b.callerFrame?.(at, payload, streamAt);
    },
    agentAudio(playAt, itemId, itemMs, payload) {
      a.agentAudio?.(playAt, itemId, itemMs, payload);
      b.agentAudio?.(playAt, itemId, itemMs, payload);
    },
    agentCut(at, items) {
      a.agentCut?.(at, items);
      b.agentCut?.(at, items);
    },
    ended(at) {
      a.ended?.(at);
      b.ended?.(at);
    },
  };
}
