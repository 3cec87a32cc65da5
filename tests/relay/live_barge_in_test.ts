/**
 * Barge-in on GPT-Live, through the fake Twilio and the GPT-Live fake over real sockets: when the model
 * gives way to the caller while Twilio still holds its audio, that audio is cleared (no stale audio),
 * and nothing is truncated or cancelled upstream (GPT-Live has neither).
 */

import assert from "node:assert/strict";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { LIVE_PERSONA, SILENCE, SPEECH } from "./_live_call.ts";

Deno.test("GPT-Live: when the model gives way to the caller, the audio it left at Twilio is cleared", async () => {
  await withPersonaDir({ "sam.ts": LIVE_PERSONA }, async (dir) => {
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "sam" },
      live: {
        // A server that runs 0.8 s ahead of playback: Twilio holds that much when the model yields.
        greeting: {
          audio: toneBytes(4000, 0x31),
          transcript:
            "Hello there, this is a long greeting with many words in it, so the transcript keeps pace.",
          leadMs: 800,
        },
        callerTurns: [{ transcript: "Wait, stop." }],
        yieldToCallerAfterMs: 100,
        silenceMs: 200,
      },
    });
    try {
      const call = await t.startCall({ persona: "sam" });
      await within(call.waitForEcho("live_answer_1:0"), "the greeting playing");
      await sendFrames(call, { frame: SILENCE, forMs: 1000 }); // listening
      await sendFrames(call, { frame: SPEECH, forMs: 300 });
      await sendFrames(call, { frame: SILENCE, forMs: 300 });
      const stopped = await within(t.waitForEvent("agent.stopped"), "the model stopping");
      assert.ok(stopped.unplayedMs > 200, `Twilio still held ${stopped.unplayedMs} ms`);
      await within(call.waitFor("clear"), "clear");
      const line = await t.waitForLog(
        /Caller interrupted: the agent stopped; cleared the rest of live_answer_1/,
      );
      assert.match(line, /at \d+ of \d+ ms sent/);
      assert.ok(call.heardMsOf(0x31) < 3000, "the rest of the greeting was not played");
      await within(t.waitForLog(/User said: "Wait, stop\."/), "the caller's words");
      const session = t.live.sessions[0]!;
      assert.deepEqual(
        session.received.filter((e) => !e.type.startsWith("session.input_audio")).map((e) => e.type),
        [
          "session.start",
          "session.commentary.append",
        ],
        "no truncate or cancel: GPT-Live has none",
      );
      call.stop();
      await within(t.waitForLog(/Call ended/), "the end");
    } finally {
      await t.close();
    }
  });
});
