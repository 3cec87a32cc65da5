/**
 * A call whose stream never started (here: refused while draining, answered with the fallback) has no
 * conversation to read: its persona's analysis is not queued, so no Responses request is paid for. A
 * call that did talk, ended after it, is analysed as before.
 */

import assert from "node:assert/strict";
import { newCallSid } from "../../testing/parley_harness.ts";
import { runCall, startParley, withRig } from "./_analysis_rig.ts";

Deno.test("a call whose stream never started is not analysed; the next call that talked is", async () => {
  const outcome = { interested: false, meetingDay: null, objections: [] };
  await withRig([], outcome, async (fake, dir, dataDir) => {
    const rig = await startParley(dir, dataDir, fake);
    let rigClosed = false;
    try {
      // Refused while draining: the webhook gets the fallback, and the record ends never_connected.
      const drained = rig.t.parley.drain();
      const refused = newCallSid();
      const answer = await rig.t.postTwilio("/api/twilio/voice-realtime?persona=lead", {
        CallSid: refused,
        AccountSid: "AC00000000000000000000000000000000",
        From: "+14155550123",
        To: "+14155550100",
      });
      assert.doesNotMatch(await answer.text(), /<Stream/);
      await rig.t.waitForEvent("call.ended", (e) => e.callSid === refused);
      await drained;
      await rig.close();
      rigClosed = true;

      // The same DATA_DIR started again: a call that talks, ended after the refused one.
      const again = await startParley(dir, dataDir, fake);
      try {
        const talked = await runCall(again.t);
        const analyzed = await again.t.waitForEvent("call.analyzed");
        assert.equal(analyzed.callSid, talked);
        assert.equal(fake.requests.length, 1, "one analysis: the call that talked");
        assert.ok(
          !again.t.logs.concat(rig.t.logs).some((l) =>
            l.line.includes(`Analysis queued: CallSid=${refused}`)
          ),
          "the refused call's analysis was never queued",
        );
      } finally {
        await again.close();
      }
    } finally {
      if (!rigClosed) await rig.close();
    }
  });
});
