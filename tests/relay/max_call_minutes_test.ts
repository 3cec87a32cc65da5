/**
 * A persona's `maxCallMinutes`, on both engines: shortly before the limit the agent is asked to wrap
 * up and say goodbye; at the limit the call ends cleanly with reason `max_call_minutes`, and Twilio's
 * `<Connect action>` hangs up (the goodbye was said: no fallback apology after it).
 */

import assert from "node:assert/strict";
import { WRAP_UP_INSTRUCTION } from "../../src/relay/call_deadline.ts";
import type { ReceivedEvent } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";

// 0.05 min = 3 s: the wrap-up comes a quarter before (at 2.25 s), the end at 3 s.
const LIMIT_MS = 3000;

for (const engine of ["realtime", "live"] as const) {
  Deno.test(`${engine}: maxCallMinutes asks for a goodbye, then ends the call with max_call_minutes`, async () => {
    const persona = personaSource({
      model: engine === "live" ? "gpt-live-1.1" : "gpt-realtime-2.1",
      voice: "marin",
      instructions: "You are Sam.",
      maxCallMinutes: LIMIT_MS / 60_000,
    });
    await withPersonaDir({ "sam.ts": persona }, async (dir) => {
      const t = await startTestParley({ personasDir: dir, env: { DEFAULT_PERSONA: "sam" } });
      try {
        const call = await t.startCall({ persona: "sam" });
        const startedAt = performance.now();
        let askedAt: number;
        if (engine === "realtime") {
          const session = await within(t.upstream.session(0), "the session");
          const ask = await within(
            session.waitFor(
              "response.create",
              (e) => e.response?.instructions?.endsWith(WRAP_UP_INSTRUCTION),
            ),
            "the wrap-up",
            5000,
          );
          assert.equal(ask.response.instructions, `You are Sam.\n\n${WRAP_UP_INSTRUCTION}`);
          askedAt = ask.at;
        } else {
          const session = await within(t.live.session(0), "the session");
          const ask = await within(
            session.waitFor("session.commentary.append", (e) => e.content === WRAP_UP_INSTRUCTION),
            "the wrap-up",
            5000,
          );
          askedAt = ask.at;
        }
        const ended = await within(t.waitForEvent("call.ended"), "the end", 5000);
        const endedAt = performance.now();
        assert.equal(ended.reason, "max_call_minutes");
        assert.ok(askedAt - startedAt < LIMIT_MS - 500, "the wrap-up comes well before the limit");
        assert.ok(endedAt - startedAt >= LIMIT_MS - 100, "not before the limit");
        await within(call.closed, "the Twilio socket closed");
        await t.waitForLog(/Call ended: CallSid=CA\w+ reason=max_call_minutes/);
        // The goodbye was said: Twilio's <Connect action> hangs up, no apology after it.
        const after = await within(t.waitForEvent("call.after_stream"), "the after-stream decision");
        assert.equal(after.action, "hangup");
        const answer = await t.postTwilio("/api/twilio/after-stream?persona=sam", { CallSid: ended.callSid });
        assert.match(await answer.text(), /<Response><Hangup\/><\/Response>/);
      } finally {
        await t.close();
      }
    });
  });
}

Deno.test("realtime: a wrap-up due while an answer is under way waits for it, then asks once, not refused", async () => {
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
      const session = await within(t.upstream.session(0), "the session");
      // An answer under way when the wrap-up falls due (at 2.25 s): started, some audio, not done.
      session.beginResponse("resp_long", "item_long");
      session.sendAudio("resp_long", "item_long", new Uint8Array(1600).fill(0x61));
      await within(t.waitForLog(/Call nears maxCallMinutes/), "the wrap-up falling due", 5000);
      const isWrapUp = (e: ReceivedEvent) => e.response?.instructions?.endsWith(WRAP_UP_INSTRUCTION) === true;
      // A caller frame after it fell due: once it reached the session, so has all the relay sent before.
      const appends = () => session.eventsOf("input_audio_buffer.append").length;
      const before = appends();
      call.sendMedia(new Uint8Array(160).fill(0xff));
      await within(
        session.waitFor("input_audio_buffer.append", () => appends() > before),
        "the caller's frame",
      );
      assert.equal(session.eventsOf("response.create").filter(isWrapUp).length, 0, "not asked mid-answer");
      // The answer ends: the wrap-up is asked then, not before (Realtime would refuse it mid-answer).
      const doneAt = performance.now();
      session.activeResponse = undefined;
      session.send({
        type: "response.done",
        response: { id: "resp_long", status: "completed", usage: null },
      });
      const ask = await within(session.waitFor("response.create", isWrapUp), "the wrap-up", 2000);
      assert.ok(
        ask.at >= doneAt,
        `asked ${Math.round(doneAt - ask.at)} ms before the answer under way ended`,
      );
      const ended = await within(t.waitForEvent("call.ended"), "the end", 5000);
      assert.equal(ended.reason, "max_call_minutes");
      assert.equal(session.eventsOf("response.create").filter(isWrapUp).length, 1);
      assert.ok(
        !t.logs.some((l) => /conversation_already_has_active_response/.test(l.line)),
        "no wrap-up refused",
      );
    } finally {
      await t.close();
    }
  });
});
