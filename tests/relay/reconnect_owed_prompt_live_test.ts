/**
 * GPT-Live: a session lost after a prompt (the `maxCallMinutes` wrap-up) was sent and before its
 * answer began. The new session is asked for that answer with the prompt again (the wrap-up
 * commentary), not `response.create`, which GPT-Live refuses without Responses delegation: the
 * wrap-up reaches the caller, and the new session, answering, is not replaced for a stall. On
 * Realtime the prompt is a `response.create` with the wrap-up's instructions: the new session gets
 * those again, not a plain one.
 */

import assert from "node:assert/strict";
import { WRAP_UP_INSTRUCTION } from "../../src/relay/call_deadline.ts";
import { fromBase64, toneBytes } from "../../testing/fake_realtime.ts";
import type { ReceivedLiveEvent } from "../../testing/fake_live_session.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";

// The wrap-up comes a quarter before the limit: at 3 s, the end at 4 s.
const LIMIT_MS = 4000;
/** The first byte of the wrap-up's audio, as the new session says it. */
const WRAP_UP_TONE = 0x44;

Deno.test("GPT-Live: a session lost before the wrap-up began has the new one prompted again, not sent response.create", async () => {
  const persona = personaSource({
    model: "gpt-live-1.1",
    voice: "marin",
    instructions: "You are Sam.",
    maxCallMinutes: LIMIT_MS / 60_000,
  });
  await withPersonaDir({ "sam.ts": persona }, async (dir) => {
    // A stall time the new session would reach before the limit, were it asked for nothing it accepts.
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "sam" },
      stallMs: 400,
      live: { usageIntervalMs: 0 },
    });
    try {
      const call = await t.startCall({ persona: "sam" });
      const first = await within(t.live.session(0), "the first session");
      const isWrapUp = (e: ReceivedLiveEvent) => e.content === WRAP_UP_INSTRUCTION;
      // The wrap-up asked; the session is lost before any of its answer.
      await within(first.waitFor("session.commentary.append", isWrapUp), "the wrap-up", 5000);
      const reconnected = t.waitForEvent("reconnected");
      first.drop();
      assert.equal((await within(reconnected, "the new session", 2000)).cause, "dropped");
      const second = await within(t.live.session(1), "the new session");
      // Whichever comes first: the wrap-up again, or a `response.create` (refused without delegation).
      const asked = await within(
        Promise.race([
          second.waitFor("session.commentary.append", isWrapUp),
          second.waitFor("response.create"),
        ]),
        "the new session asked for the wrap-up",
        2000,
      );
      assert.deepEqual(second.errorsSent, [], "the new session refused nothing");
      assert.equal(asked.type, "session.commentary.append");
      const goodbye = call.waitFor("media", (m) => fromBase64(m.media.payload)[0] === WRAP_UP_TONE);
      void second.voice.speak({ audio: toneBytes(200, WRAP_UP_TONE), transcript: "Thanks, goodbye." });
      await within(goodbye, "the wrap-up at Twilio", 2000);
      const ended = await within(t.waitForEvent("call.ended"), "the end", 3000);
      assert.equal(ended.reason, "max_call_minutes");
      assert.deepEqual(second.errorsSent, [], "still nothing refused");
      assert.deepEqual(second.eventsOf("response.create"), [], "no response.create without delegation");
      assert.equal(second.eventsOf("session.commentary.append").filter(isWrapUp).length, 1, "asked once");
      assert.equal(t.events.filter((e) => e.type === "reconnected").length, 1, "replaced once");
      assert.equal(t.live.sessions.length, 2);
      await within(call.closed, "the Twilio socket closed");
    } finally {
      await t.close();
    }
  });
});

Deno.test("Realtime: a session lost before the wrap-up began has the new one asked with the wrap-up's instructions again", async () => {
  const persona = personaSource({
    model: "gpt-realtime-2.1",
    voice: "marin",
    instructions: "You are Sam.",
    maxCallMinutes: LIMIT_MS / 60_000,
  });
  await withPersonaDir({ "sam.ts": persona }, async (dir) => {
    const t = await startTestParley({ personasDir: dir, env: { DEFAULT_PERSONA: "sam" } });
    try {
      const call = await t.startCall({ persona: "sam" });
      const first = await within(t.upstream.session(0), "the first session");
      const wrapUp = `You are Sam.\n\n${WRAP_UP_INSTRUCTION}`;
      await within(
        first.waitFor("response.create", (e) => e.response?.instructions === wrapUp),
        "the wrap-up",
        5000,
      );
      first.drop();
      const second = await within(t.upstream.session(1), "the new session", 2000);
      const ask = await within(second.waitFor("response.create"), "the new session asked", 2000);
      // Still a `response.create`, as a plain "go on" was: now with the wrap-up's instructions.
      assert.equal(ask.response?.instructions, wrapUp, "the wrap-up asked again, not a plain answer");
      assert.equal(second.eventsOf("response.create").length, 1, "asked once");
      const goodbye = call.waitFor("media", (m) => fromBase64(m.media.payload)[0] === WRAP_UP_TONE);
      void second.streamResponse({
        responseId: "r1",
        itemId: "item_bye",
        audio: toneBytes(200, WRAP_UP_TONE),
      });
      await within(goodbye, "the wrap-up at Twilio", 2000);
      call.close();
      await call.closed;
    } finally {
      await t.close();
    }
  });
});
