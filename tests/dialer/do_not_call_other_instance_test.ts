/**
 * Two instances on one store (the two-instance stand-in the dialer tests use: one SQLite file): an
 * inbound call's webhook reaches `alpha`, its media socket `beta`, and the caller asks not to be called.
 * `beta` never heard the caller's number itself; it takes it from the shared record, so the number
 * joins the do-not-call list. Before, `beta` logged "its number is unknown here" and added nothing.
 */

import assert from "node:assert/strict";
import { within } from "../../testing/within.ts";
import { VOICE_WEBHOOK_PATH } from "../../src/paths.ts";
import { startCampaignParley } from "./_campaign_parley.ts";
import { goodbyeWithDoNotCall, withDoraPersonas } from "./_dora.ts";

const MONDAY_10_NY = Date.parse("2026-12-07T15:00:00Z");
const CALLER = "+14155550777";

Deno.test("do_not_call on a call whose webhook another instance took: the number from the shared record is listed", async () => {
  await withDoraPersonas("parley_dnc_elsewhere_", async (dir) => {
    await using alpha = await startCampaignParley(MONDAY_10_NY, {}, dir, { shared: true, instance: "alpha" });
    await using beta = await startCampaignParley(MONDAY_10_NY, {}, dir, {
      shared: true,
      instance: "beta",
      dir: alpha.dir,
      rest: alpha.rest,
      clock: alpha.clock,
    });
    const callSid = `CA${"d".repeat(32)}`;
    const hook = await alpha.t.postTwilio(`${VOICE_WEBHOOK_PATH}?persona=dora`, {
      CallSid: callSid,
      AccountSid: `AC${"c".repeat(32)}`,
      From: CALLER,
      To: "+14155550199",
      Direction: "inbound",
    });
    const twiml = await hook.text();
    // As on a real call, seconds before the caller asks: alpha's webhook event is in the shared store
    // (reading through alpha writes what it has queued).
    assert.equal((await alpha.store.calls.getCall(callSid))?.from, CALLER);
    const streamUrl = twiml.match(/<Stream url="([^"]+)"/)![1]!;
    const parameters = Object.fromEntries(
      [...twiml.matchAll(/<Parameter name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    const call = await beta.t.connectStream(streamUrl, callSid);
    call.start(parameters);
    const session = await within(beta.t.upstream.session(0), "beta's upstream session");
    await session.waitFor("session.update");
    await goodbyeWithDoNotCall(session);
    await within(call.closed, "the call ended after the goodbye", 5_000);
    await beta.t.waitForEvent("tool.called", (e) => e.name === "do_not_call");
    await beta.t.parley.dialer!.settled();

    const listed = (await (await alpha.api("GET", "/api/dnc")).json()).numbers as { phone: string }[];
    assert.deepEqual(listed.map((n) => n.phone), [CALLER]);
    assert.ok(
      beta.t.logs.some((l) =>
        l.line.includes(`do_not_call: CallSid=${callSid}: the number is on the do-not-call`)
      ),
    );
  });
});
