/**
 * GPT-Live stall watch: a session asked to go on after a tool's output that stays silent is replaced,
 * and a caller talking on and on, then silent, keeps a healthy session. Real time: each spell spans
 * two runs of the once-a-second stall check.
 */

import assert from "node:assert/strict";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { withActionParley } from "./_action_persona.ts";
import { LIVE_PERSONA, QUIET_SPELL_MS, SILENCE, talkFor } from "./_reconnect.ts";

Deno.test("GPT-Live: a caller talking on and on, then silent, keeps a healthy session (no stall reconnect)", async () => {
  await withPersonaDir({ "sam.ts": LIVE_PERSONA }, async (dir) => {
    // No usage reports either: the session says nothing at all while the caller talks or is quiet.
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "sam" },
      stallMs: 300,
      // A caller turn the model lets pass without an answer (the model owns turn-taking).
      live: { usageIntervalMs: 0, callerTurns: [{ transcript: "Mm-hm." }], silenceMs: 200 },
    });
    try {
      const call = await t.startCall({ persona: "sam" });
      await within(t.waitForEvent("call.started"), "the stream started");
      await talkFor(call, QUIET_SPELL_MS);
      await talkFor(call, QUIET_SPELL_MS, SILENCE);
      assert.equal(t.live.sessions[0]!.voice.callerTurnsHeard.length, 1, "the caller's turn was heard");
      assert.equal(t.events.filter((e) => e.type === "reconnected").length, 0, "never replaced");
      assert.equal(t.live.sessions.length, 1);
      call.close();
      await call.closed;
    } finally {
      await t.close();
    }
  });
});

Deno.test("GPT-Live: a session asked to go on after a tool's output that stays silent is replaced", async () => {
  await withActionParley("live", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.live.session(0), "the GPT-Live session");
    await within(t.waitForEvent("call.started"), "the stream started");
    await talkFor(call, QUIET_SPELL_MS, SILENCE);
    assert.equal(t.events.filter((e) => e.type === "reconnected").length, 0, "nothing owed: kept");
    const reconnected = t.waitForEvent("reconnected");
    session.voice.callFunction("lookup_order", { order: "42" });
    await within(session.waitFor("response.create"), "asked to go on");
    await sendFrames(call, { frame: SILENCE, until: within(reconnected, "the stall noticed", 3000) });
    assert.equal((await reconnected).cause, "stalled");
    assert.equal(t.live.sessions.length, 2);
    call.close();
    await call.closed;
  }, { stallMs: 300, live: { usageIntervalMs: 0 } });
});
