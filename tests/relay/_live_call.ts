/**
 * What the GPT-Live call tests share (live_call_test.ts, live_barge_in_test.ts, live_refusals_test.ts):
 * a GPT-Live persona that greets, and caller frames.
 */

import { toneBytes } from "../../testing/fake_realtime.ts";
import { personaSource } from "../personas/_persona_dir.ts";

/** A GPT-Live persona that greets (`sam.ts` in a test persona folder). */
export const LIVE_PERSONA: string = personaSource({
  model: "gpt-live-1.1",
  voice: "marin",
  instructions: "You are Sam. Keep answers short.",
  greeting: "Greet the caller warmly and ask how you can help.",
});

/** A caller frame of speech (loud), 20 ms. */
export const SPEECH: Uint8Array = toneBytes(20, 0x10);
/** A caller frame of silence, 20 ms. */
export const SILENCE: Uint8Array = toneBytes(20, 0xff);
