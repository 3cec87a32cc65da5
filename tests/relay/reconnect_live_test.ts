/**
 * Upstream drops mid-call on GPT-Live, through the fake Twilio and the GPT-Live fake over real
 * sockets: after a drop (1011) or the session cap (`session.closed` `expired`), a new session gets the
 * same persona and voice, the conversation so far as `input` in its `session.start`, and caller audio
 * again within 2 s. The same on Realtime: reconnect_test.ts.
 */

import assert from "node:assert/strict";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { LIVE_PERSONA, SILENCE, SPEECH } from "./_reconnect.ts";

for (
  const [name, end] of [
    ["a drop (1011)", (s: { drop(code?: number): void }) => s.drop()],
    [
      "the session cap (session.closed expired)",
      (s: { closeSession(r?: string): void }) => s.closeSession("expired"),
    ],
  ] as const
) {
  Deno.test(`GPT-Live: ${name} mid-call reconnects with the history as input; audio flows again`, async () => {
    await withPersonaDir({ "sam.ts": LIVE_PERSONA }, async (dir) => {
      const t = await startTestParley({
        personasDir: dir,
        env: { DEFAULT_PERSONA: "sam" },
        live: {
          callerTurns: [{
            transcript: "I need a quote.",
            answer: { audio: toneBytes(100, 0x22), transcript: "Sure." },
          }],
          silenceMs: 200,
          recordAudio: true,
        },
      });
      try {
        const call = await t.startCall({ persona: "sam" });
        const first = await within(t.live.session(0), "first session");
        await first.waitFor("session.start");
        await sendFrames(call, {
          frame: (ms) => ms < 300 ? SPEECH : SILENCE,
          until: within(t.waitForLog(/AI said: "Sure\."/), "the first turn", 8000),
        });
        // deno-lint-ignore no-explicit-any
        end(first as any);
        const droppedAt = performance.now();
        const second = await within(t.live.session(1), "the new session", 2000);
        const start = await second.waitFor("session.start");
        assert.equal(start.session.instructions, "You are Sam. Keep answers short.");
        assert.deepEqual(start.session.audio.output, { voice: "marin" });
        const history = start.session.input.map((m: { role: string; content: { text: string }[] }) => [
          m.role,
          m.content[0]!.text,
        ]);
        assert.deepEqual(history, [["user", "I need a quote."], ["assistant", "Sure."]]);
        const talking = sendFrames(call, {
          frame: SPEECH,
          until: second.waitFor("session.input_audio.append"),
        });
        const audio = await within(second.waitFor("session.input_audio.append"), "audio again", 2000);
        await talking;
        assert.ok(audio.at - droppedAt < 2000);
        await within(t.waitForEvent("reconnected"), "the reconnect event");
        call.close();
        await call.closed;
      } finally {
        await t.close();
      }
    });
  });
}
