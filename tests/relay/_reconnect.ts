/**
 * What the reconnect tests share (reconnect_test.ts, reconnect_live_test.ts,
 * reconnect_stall_realtime_test.ts, reconnect_stall_live_test.ts): caller audio frames, a GPT-Live
 * persona, and real-time talking long enough for the once-a-second stall check to run twice.
 */

import { toneBytes } from "../../testing/fake_realtime.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { personaSource } from "../personas/_persona_dir.ts";

/** One 20 ms μ-law frame of speech. */
export const SPEECH: Uint8Array = toneBytes(20, 0x10);
/** One 20 ms μ-law frame of silence. */
export const SILENCE: Uint8Array = toneBytes(20, 0xff);
/** A GPT-Live persona (`sam.ts` in a test persona folder). */
export const LIVE_PERSONA: string = personaSource({
  model: "gpt-live-1.1",
  voice: "marin",
  instructions: "You are Sam. Keep answers short.",
});

/** Sends frames of `bytes` in real time for `ms`: long enough for the stall check to run twice. */
export function talkFor(
  call: { sendMedia(b: Uint8Array): void },
  ms: number,
  bytes: Uint8Array = SPEECH,
): Promise<void> {
  return sendFrames(call, { frame: bytes, forMs: ms });
}

/** Long enough for the once-a-second stall check to run at least twice with `stallMs: 300`. */
export const QUIET_SPELL_MS = 2200;
