/**
 * Twilio's `POST /Calls` times out after Twilio created the call: Parley cannot know whether it did.
 * Before it tries the lead again it asks Twilio (the call is still `queued`, with no start time, so only
 * a `Status=queued` look-up finds it), adopts the call as the lead's attempt, and does not dial again.
 */
import assert from "node:assert/strict";
import { ACCOUNT_SID, startCampaignParley } from "./_campaign_parley.ts";
import { startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";
import { TEST_AUTH_TOKEN } from "../../testing/parley_harness.ts";

const MONDAY_10_NY = Date.parse("2026-12-07T15:00:00Z");

Deno.test("dialer: a timed-out call request that Twilio did place is adopted, not dialled again", async () => {
  const rest = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  // Twilio takes the first call and answers slowly: Parley's request times out first.
  const stall = rest.stallNextCall();
  let first = true;
  const slowTwilio: typeof fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (first && init?.method === "POST" && url.endsWith("/Calls.json")) {
      first = false;
      const timeout = new AbortController();
      void stall.accepted.then(() => timeout.abort(new DOMException("timed out", "TimeoutError")));
      return fetch(input, { ...init, signal: timeout.signal });
    }
    return fetch(input, init);
  };
  try {
    await using c = await startCampaignParley(MONDAY_10_NY, {}, undefined, { rest, fetch: slowTwilio });
    const dialer = c.t.parley.dialer!;
    const campaign = await (await c.api("POST", "/api/campaigns", {
      name: "Timeout",
      persona: "alex",
      leads: { csv: "name,phone\nSolo,+14155554000" },
      window: { timezone: "UTC", days: ["mon"], start: "00:00", end: "24:00" },
      maxConcurrent: 1,
      start: true,
    })).json();
    await dialer.tick();
    assert.equal(rest.calls.length, 1, "Twilio created the call");
    assert.equal(rest.calls[0]!.status, "queued");
    const lead = (await c.store.campaigns.leads(campaign.id))[0]!;
    assert.equal(lead.state, "pending", "backed off");
    assert.equal(lead.attempts, 0, "no attempt counted");

    // After the backoff: Twilio is asked first, and its queued call is the lead's attempt.
    c.clock.now += 2_000;
    await dialer.tick();
    const posts = rest.requests.filter((r) => r.method === "POST" && r.path.endsWith("/Calls.json"));
    assert.equal(posts.length, 1, "the lead was not dialled again");
    const asked = rest.requests.filter((r) => r.method === "GET" && r.path.endsWith("/Calls.json"));
    assert.ok(asked.some((r) => r.query.get("Status") === "queued" && r.query.get("To") === "+14155554000"));
    const [attempt] = await c.store.campaigns.attempts(campaign.id);
    assert.equal(attempt?.callSid, rest.calls[0]!.sid);
    assert.equal(attempt?.attempt, 1);

    await c.status(rest.calls[0]!.sid, { CallStatus: "completed" });
    await dialer.settled();
    await dialer.tick();
    const view = await (await c.api("GET", `/api/campaigns/${campaign.id}`)).json();
    assert.equal(view.state, "finished");
    assert.equal(view.counts.byDisposition.completed, 1);
    assert.equal(view.counts.attempts, 1);
  } finally {
    stall.release();
    await rest.shutdown();
  }
});
