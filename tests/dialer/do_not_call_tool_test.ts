/**
 * The `do_not_call` built-in: the agent calls it on a campaign call, the call ends after the goodbye,
 * the number joins the do-not-call list, the disposition is `do_not_call`, and the next campaign skips it.
 */
import assert from "node:assert/strict";
import { within } from "../../testing/within.ts";
import { offeredTools } from "../../src/relay/built_in_tools.ts";
import { startCampaignParley } from "./_campaign_parley.ts";
import { goodbyeWithDoNotCall, withDoraPersonas } from "./_dora.ts";

const MONDAY_10_NY = Date.parse("2026-12-07T15:00:00Z");
const WINDOW = { timezone: "America/New_York", days: ["mon"], start: "09:00", end: "17:00" };

Deno.test("do_not_call is offered only to personas with doNotCall: true", () => {
  assert.deepEqual(offeredTools({ voice: "marin", instructions: "x", doNotCall: true }).map((t) => t.name), [
    "do_not_call",
  ]);
  assert.deepEqual(offeredTools({ voice: "marin", instructions: "x" }), []);
});

Deno.test("do_not_call: the call ends after the goodbye, the number is listed, the disposition is do_not_call", async () => {
  await withDoraPersonas("parley_dnc_personas_", async (dir) => {
    await using c = await startCampaignParley(MONDAY_10_NY, {}, dir);
    const imported = await c.api("POST", "/api/leads/import", "name,phone\nAda,+14155550100\n");
    await imported.body?.cancel();
    const campaign = await (await c.api("POST", "/api/campaigns", {
      name: "Dora",
      persona: "dora",
      leads: { ids: [1] },
      window: WINDOW,
      start: true,
    })).json();
    await c.t.parley.dialer!.tick();
    const placed = await within(c.t.waitForEvent("call.placed"), "the call placed");
    // Twilio fetches the webhook URL the dialer gave it, then opens the stream.
    const url = new URL(c.rest.requests.at(-1)!.form.get("Url")!);
    const streamUrl = await c.t.answerWebhook(placed.callSid, url.searchParams.toString());
    const call = await c.t.connectStream(streamUrl, placed.callSid);
    call.start(Object.fromEntries(url.searchParams));
    const session = await within(c.t.upstream.session(0), "the upstream session");
    const update = await session.waitFor("session.update");
    assert.ok(JSON.stringify(update).includes('"do_not_call"'), "the tool is offered");
    await goodbyeWithDoNotCall(session);
    await within(call.closed, "the call ended after the goodbye", 5000);
    assert.equal((await c.t.waitForEvent("call.ended")).reason, "agent_hung_up");
    await c.status(placed.callSid, { CallStatus: "completed" });
    await c.t.parley.dialer!.settled();

    const listed = (await (await c.api("GET", "/api/dnc")).json()).numbers;
    assert.deepEqual(listed.map((n: { phone: string; source: string }) => [n.phone, n.source]), [[
      "+14155550100",
      "tool",
    ]]);
    const calls = (await (await c.api("GET", `/api/campaigns/${campaign.id}/calls`)).json()).calls;
    assert.equal(calls[0].disposition, "do_not_call");
    const final = await (await c.api("GET", `/api/campaigns/${campaign.id}`)).json();
    assert.equal(final.counts.byDisposition.do_not_call, 1);

    const next = await (await c.api("POST", "/api/campaigns", {
      name: "Again",
      persona: "dora",
      leads: { ids: [1] },
      window: WINDOW,
    })).json();
    assert.equal(next.counts.skipped.do_not_call, 1, "every campaign skips the number from then on");
  });
});
