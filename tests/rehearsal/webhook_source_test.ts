/** The voice webhook's rehearsal marker: only `parley_source=rehearsal` is accepted, and it names the parameter otherwise. */

import assert from "node:assert/strict";
import { newCallSid, startTestParley } from "../../testing/parley_harness.ts";

Deno.test("a webhook with a parley_source other than rehearsal is refused, naming the parameter", async () => {
  const parley = await startTestParley();
  try {
    const path = "/api/twilio/voice-realtime?persona=tester&parley_source=phone";
    const response = await parley.postTwilio(path, {
      CallSid: newCallSid(),
      AccountSid: "AC" + "0".repeat(32),
    });
    assert.equal(response.status, 400);
    assert.match((await response.json()).error, /^Parameter "parley_source": "phone" is not "rehearsal"$/);
    assert.equal(parley.events.filter((e) => e.type === "call.webhook").length, 0, "no call was recorded");
  } finally {
    await parley.close();
  }
});
