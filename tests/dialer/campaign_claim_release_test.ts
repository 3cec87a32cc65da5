/**
 * A run killed after it claimed a lead and before it sent its call request: at the next start the lead
 * goes back to pending with no attempt counted and is dialled, with no need to ask Twilio (which is down
 * for look-ups here: before, the lead got an attempt counted and sat `dialing` until the stale sweep).
 */
import assert from "node:assert/strict";
import { startCampaignParley } from "./_campaign_parley.ts";
import type { CampaignInput } from "../../src/store/campaign.ts";
import { DEFAULT_RETRY } from "../../src/dialer/outcomes.ts";

const MONDAY_10_NY = Date.parse("2026-12-07T15:00:00Z");
const CAMPAIGN: CampaignInput = {
  name: "Claimed",
  persona: "alex",
  voice: undefined,
  parameters: {},
  window: { timezone: "UTC", days: ["mon"], start: "00:00", end: "24:00" },
  maxConcurrent: 1,
  callsPerSecond: 1,
  retry: { ...DEFAULT_RETRY },
  machineDetection: true,
};

Deno.test("dialer: a lead claimed by a killed run and never dialled goes back, no attempt counted", async () => {
  let campaignId = 0;
  // Twilio's Calls list cannot be read (placing calls still works).
  const noLookups: typeof fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if ((init?.method ?? "GET") === "GET" && url.includes("/Calls.json")) {
      return Promise.reject(new TypeError("connection reset"));
    }
    return fetch(input, init);
  };
  await using c = await startCampaignParley(MONDAY_10_NY, {}, undefined, {
    fetch: noLookups,
    // What the killed run left: the campaign running, its lead claimed by this instance, nothing sent.
    before: async (store) => {
      const campaign = await store.campaigns.create(
        CAMPAIGN,
        [{ leadId: null, name: "Solo", phone: "+14155555000", timezone: null, fields: {} }],
        "running",
      );
      campaignId = campaign.id;
      assert.equal((await store.campaigns.claim(campaign.id, MONDAY_10_NY, 1, store.instance)).length, 1);
    },
  });
  const [back] = await c.store.campaigns.leads(campaignId);
  assert.deepEqual([back?.state, back?.attempts, back?.claimedBy], ["pending", 0, null]);

  await c.t.parley.dialer!.tick();
  assert.deepEqual(c.rest.calls.map((call) => call.to), ["+14155555000"], "dialled once");
  const [attempt] = await c.store.campaigns.attempts(campaignId);
  assert.deepEqual([attempt?.attempt, attempt?.callSid], [1, c.rest.calls[0]!.sid]);
  assert.equal(c.rest.requests.filter((r) => r.method === "GET").length, 0, "Twilio was not asked");
});
