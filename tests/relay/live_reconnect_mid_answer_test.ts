/**
 * GPT-Live: a session lost while the caller still hears its answer. The relay cuts that answer, and
 * the new session's answers must still reach the caller (GPT-Live has no answer ids: the engine names
 * runs of audio, and the new session's must not be taken for the lost session's).
 */

import assert from "node:assert/strict";
import { fromBase64, toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";
import { SILENCE, SPEECH } from "./_reconnect.ts";

const GREETING_PERSONA = personaSource({
  model: "gpt-live-1.1",
  voice: "marin",
  instructions: "You are Sam. Keep answers short.",
  greeting: "Greet the caller warmly and ask how you can help.",
});

Deno.test("GPT-Live: a session lost mid-greeting is replaced, and the new session's answer reaches the caller", async () => {
  await withPersonaDir({ "sam.ts": GREETING_PERSONA }, async (dir) => {
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "sam" },
      live: {
        // A long greeting, sent well ahead of playback: much of it is still unplayed at the drop.
        greeting: {
          audio: toneBytes(3000, 0x31),
          transcript: "Hello there, thanks for calling.",
          leadMs: 800,
        },
        callerTurns: [{
          transcript: "I need a quote.",
          answer: { audio: toneBytes(400, 0x22), transcript: "Sure." },
        }],
        silenceMs: 200,
      },
    });
    try {
      const call = await t.startCall({ persona: "sam" });
      const first = await within(t.live.session(0), "the first session");
      await within(call.waitFor("media"), "the greeting playing");
      first.drop();
      const second = await within(t.live.session(1), "the new session", 2000);
      await within(second.waitFor("session.start"), "the new session started");
      const answer = call.waitFor("media", (m) => fromBase64(m.media.payload)[0] === 0x22);
      await sendFrames(call, {
        frame: (ms) => ms < 300 ? SPEECH : SILENCE,
        until: within(answer, "the new session's answer at Twilio", 8000),
      });
      assert.equal(second.voice.callerTurnsHeard.length, 1, "the new session heard the caller");
      assert.ok(call.heardMsOf(0x31) < 3000, "the rest of the lost greeting was cleared");
      call.close();
      await call.closed;
    } finally {
      await t.close();
    }
  });
});
