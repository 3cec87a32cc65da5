/**
 * Realtime stall watch: a session that owes an answer and stays silent is replaced (never while the
 * caller speaks), and a caller talking on and on, or silent, keeps a healthy session. Real time: each
 * spell spans two runs of the once-a-second stall check.
 */

import assert from "node:assert/strict";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";
import { QUIET_SPELL_MS, SILENCE, talkFor } from "./_reconnect.ts";

/** A call on `tester` and its first session, once the stream started. */
async function startedCall(t: Awaited<ReturnType<typeof startTestParley>>) {
  const call = await t.startCall({ persona: "tester" });
  const first = await within(t.upstream.session(0), "first session");
  await within(t.waitForEvent("call.started"), "the stream started");
  return { call, first };
}

Deno.test("Realtime: a caller talking on and on, or silent, keeps a healthy session (no stall reconnect)", async () => {
  const t = await startTestParley({ stallMs: 300 });
  try {
    const { call, first } = await startedCall(t);
    // Server VAD says speech_started, then nothing while the caller goes on talking.
    first.speechStarted();
    await talkFor(call, QUIET_SPELL_MS);
    // Then a caller who says nothing: silence frames, and nothing from the server.
    first.speechStopped();
    await first.streamResponse({ responseId: "r1", itemId: "item_a1", audio: toneBytes(100, 0x22) });
    await talkFor(call, QUIET_SPELL_MS, SILENCE);
    assert.equal(t.events.filter((e) => e.type === "reconnected").length, 0, "never replaced");
    assert.equal(t.upstream.sessions.length, 1);
    assert.ok(!t.logs.some((l) => /Upstream lost/.test(l.line)), "no stall in the log");
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("Realtime: a session owing an answer that stays silent is replaced, never while the caller speaks", async () => {
  const t = await startTestParley({ stallMs: 300 });
  try {
    const { call, first } = await startedCall(t);
    // The caller's turn is committed (an answer is owed), but the caller goes straight on talking.
    first.speechStarted();
    first.speechStopped();
    first.speechStarted("item_caller2");
    await talkFor(call, QUIET_SPELL_MS);
    assert.equal(t.events.filter((e) => e.type === "reconnected").length, 0, "not replaced mid-speech");
    // The caller stops; the answer owed never comes.
    const reconnected = t.waitForEvent("reconnected");
    first.speechStopped("item_caller2");
    await sendFrames(call, { frame: SILENCE, until: within(reconnected, "the stall noticed", 3000) });
    assert.equal((await reconnected).cause, "stalled");
    assert.equal(t.upstream.sessions.length, 2);
    await within(
      t.waitForLog(/Upstream lost for CallSid=CA\w+: OpenAI owed an answer and sent nothing for 0\.3 s/),
      "the stall in the log",
    );
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});
