/**
 * `do_not_call` on a call whose number Parley never learnt (a webhook that carried no `From`): the
 * number is unknown, said so in the log, and nothing (no empty number) joins the do-not-call list.
 */
import assert from "node:assert/strict";
import { within } from "../../testing/within.ts";
import { startCampaignParley } from "./_campaign_parley.ts";
import { goodbyeWithDoNotCall, withDoraPersonas } from "./_dora.ts";

const MONDAY_10_NY = Date.parse("2026-12-07T15:00:00Z");

Deno.test("do_not_call on a call with no caller number lists nothing and says the number is unknown", async () => {
  await withDoraPersonas("parley_dnc_unknown_", async (dir) => {
    await using c = await startCampaignParley(MONDAY_10_NY, {}, dir);
    // An inbound call whose webhook form has no `From` (the harness's form: CallSid and AccountSid).
    const call = await c.t.startCall({ persona: "dora" });
    const webhook = await c.t.waitForEvent("call.webhook", (e) => e.callSid === call.callSid);
    assert.equal(webhook.from, "");
    const session = await within(c.t.upstream.session(0), "the upstream session");
    await session.waitFor("session.update");
    await goodbyeWithDoNotCall(session);
    await within(call.closed, "the call ended after the goodbye", 5000);
    await c.t.waitForEvent("tool.called", (e) => e.name === "do_not_call");
    await c.t.parley.dialer!.settled(); // the do-not-call request ran
    const listed = (await (await c.api("GET", "/api/dnc")).json()).numbers;
    assert.deepEqual(listed, [], "no empty number on the list");
    assert.ok(
      c.t.logs.some((l) =>
        l.line.includes(`do_not_call on CallSid=${call.callSid}: its number is unknown here`)
      ),
    );
  });
});
