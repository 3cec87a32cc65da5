/**
 * One recorded call through the harness, shared by the recording tests: the caller is silent, speaks
 * for 400 ms, then is silent again; the agent's 3 s greeting is cut by a barge-in 1 s in. A test tap
 * beside the recorder notes the call times of each part, to find them in the WAV.
 */

import { toneBytes } from "../../testing/fake_realtime.ts";
import type { TestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import type { CallTapListener, FrameTap } from "../../src/relay/frame_tap.ts";

/** μ-law silence (decodes to 0). */
export const SILENCE = 0xff;
/** The caller's speech byte (a loud constant level). */
export const CALLER_BYTE = 0x20;
/** The agent's greeting byte (another loud level). */
export const AGENT_BYTE = 0x11;

/** What the test tap saw, in call time (ms). */
export interface CallTimes {
  callSid: string;
  /** When the caller's first and last speech frames arrived. */
  speechFrom: number;
  speechTo: number;
  /** Where the greeting's first chunk played. */
  agentFrom: number;
  /** Where Twilio was cleared (barge-in). */
  cutAt: number;
  /** When the call ended. */
  endedAt: number;
}

/** A tap noting the times of {@linkcode CallTimes}; `times()` reads them once the call ended. */
export function timesTap(): { tap: FrameTap; times: () => CallTimes } {
  const seen: Partial<CallTimes> = {};
  const tap: FrameTap = (call) => {
    seen.callSid = call.callSid;
    const listener: CallTapListener = {
      callerFrame(at, payload) {
        if (atob(payload).charCodeAt(0) !== CALLER_BYTE) return;
        seen.speechFrom ??= at;
        seen.speechTo = at + 20;
      },
      agentAudio(playAt) {
        seen.agentFrom ??= playAt;
      },
      agentCut(at) {
        seen.cutAt ??= at;
      },
      ended(at) {
        seen.endedAt = at;
      },
    };
    return listener;
  };
  return {
    tap,
    times: () => {
      for (const key of ["callSid", "speechFrom", "speechTo", "agentFrom", "cutAt", "endedAt"] as const) {
        if (seen[key] === undefined) throw new Error(`the test tap saw no ${key}`);
      }
      return seen as CallTimes;
    },
  };
}

/** Runs the call on `t` (persona `recorder`) and hangs up; resolves with its CallSid. */
export async function recordedCall(t: TestParley): Promise<string> {
  const call = await t.startCall({ persona: "recorder" });
  const session = await t.upstream.session(0);
  await session.waitFor("response.create");
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => stop = resolve);
  // Like Twilio, the caller's frames keep coming all call long.
  const caller = sendFrames(call, {
    frame: (ms) => new Uint8Array(160).fill(ms >= 300 && ms < 700 ? CALLER_BYTE : SILENCE),
    until: stopped,
  });
  await session.waitFor(
    "input_audio_buffer.append",
    () => session.eventsOf("input_audio_buffer.append").length >= 40,
  );
  const greeting = session.streamResponse({
    responseId: "resp_greet",
    itemId: "item_greet",
    audio: toneBytes(3000, AGENT_BYTE),
    intervalMs: 60,
    inFlightAfterCancel: 3,
  });
  await call.waitForEcho("item_greet:1000");
  session.speechStarted();
  await session.waitFor("conversation.item.truncate");
  await greeting;
  // Half a second of the caller after the cut, then hang up.
  const frames = session.eventsOf("input_audio_buffer.append").length;
  await session.waitFor(
    "input_audio_buffer.append",
    () => session.eventsOf("input_audio_buffer.append").length >= frames + 25,
  );
  stop();
  await caller;
  call.close();
  return call.callSid;
}
