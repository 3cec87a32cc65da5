/**
 * A final status whose CallSid the store never noted still finds its attempt: the dialer's status
 * callback URL names it (`?campaign=…&lead=…&attempt=…`, signed with the URL).
 */
import assert from "node:assert/strict";
import { startCampaignParley } from "./_campaign_parley.ts";
import { STATUS_CALLBACK_PATH } from "../../src/paths.ts";

const MONDAY_10_NY = Date.parse("2026-12-07T15:00:00Z");

Deno.test("dialer: a final status carrying only the attempt (CallSid unknown to the store) finishes it", async () => {
  await using c = await startCampaignParley(MONDAY_10_NY);
  const dialer = c.t.parley.dialer!;
  const campaigns = c.store.campaigns!;
  await (await c.api("POST", "/api/leads/import", "name,phone\nSolo,+14155551234")).body?.cancel();
  const ids = (await (await c.api("GET", "/api/leads")).json()).leads.map((l: { id: number }) => l.id);
  const campaign = await (await c.api("POST", "/api/campaigns", {
    name: "Callback",
    persona: "alex",
    leads: { ids },
    window: { timezone: "UTC", days: ["mon"], start: "00:00", end: "24:00" },
    maxConcurrent: 1,
    start: false,
  })).json();
  // As a run killed after Twilio took the call: the lead claimed, its attempt open, no CallSid noted.
  const [lead] = await campaigns.claim(campaign.id, c.clock.now, 1, c.store.instance);
  assert.ok(lead !== undefined);
  const attempt = await campaigns.startAttempt(lead.id, c.clock.now);
  assert.equal(attempt.callSid, null);

  const callSid = `CA${"e".repeat(32)}`;
  const query = `campaign=${campaign.id}&lead=${lead.id}&attempt=${attempt.attempt}`;
  await c.status(`${callSid}`, { CallStatus: "ringing" }); // no attempt named: nothing to do
  const response = await c.t.postTwilio(`${STATUS_CALLBACK_PATH}?${query}`, {
    CallSid: callSid,
    CallStatus: "busy",
  });
  assert.equal(response.status, 204);
  await response.body?.cancel();
  await dialer.settled();

  const [ended] = await campaigns.attempts(campaign.id);
  assert.equal(ended?.callSid, callSid);
  assert.equal(ended?.disposition, "busy");
  assert.notEqual(ended?.endedAt, null);

  // The URL is signed with its query: the same callback for another attempt is refused.
  const forged = await fetch(
    `${c.t.origin}${STATUS_CALLBACK_PATH}?${query.replace(/attempt=\d+/, "attempt=9")}`,
    {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        ...c.t.twilioHeaders(`https://parley.test${STATUS_CALLBACK_PATH}?${query}`, {
          CallSid: callSid,
          CallStatus: "busy",
        }),
      },
      body: new URLSearchParams({ CallSid: callSid, CallStatus: "busy" }),
    },
  );
  assert.equal(forged.status, 403);
  await forged.body?.cancel();
});
