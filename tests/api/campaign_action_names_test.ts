/**
 * `POST /api/campaigns/:id/:action` knows four actions; a name every JavaScript object has
 * (`constructor`, `toString`, `__proto__`, …) is one more unknown action: 404 naming it, never a 500.
 */
import assert from "node:assert/strict";
import { startCampaignParley } from "../dialer/_campaign_parley.ts";

const MONDAY_10_NY = Date.parse("2026-12-07T15:00:00Z");

Deno.test("campaign actions: Object.prototype names are unknown actions (404), not a 500", async () => {
  await using c = await startCampaignParley(MONDAY_10_NY);
  const lead = await c.api("POST", "/api/leads", { name: "Ada", phone: "+14155550100" });
  assert.equal(lead.status, 201);
  const created = await c.api("POST", "/api/campaigns", {
    name: "December",
    persona: "alex",
    leads: { ids: [(await lead.json()).id] },
    window: { timezone: "America/New_York", days: ["mon"], start: "09:00", end: "17:00" },
  });
  assert.equal(created.status, 201, await created.clone().text());
  const { id } = await created.json();
  for (
    const action of [
      "constructor",
      "toString",
      "hasOwnProperty",
      "valueOf",
      "isPrototypeOf",
      "__proto__",
      "__defineGetter__",
    ]
  ) {
    const response = await c.api("POST", `/api/campaigns/${id}/${action}`);
    const body = await response.json();
    assert.equal(response.status, 404, `${action}: ${JSON.stringify(body)}`);
    assert.deepEqual(body, {
      error: `Unknown campaign action "${action}": use start, pause, resume or stop`,
    });
  }
  assert.equal(
    c.t.logs.filter((l) => /Unhandled error/.test(l.line)).length,
    0,
    "no request reached a 500",
  );
  assert.equal((await (await c.api("GET", `/api/campaigns/${id}`)).json()).state, "draft");
  // The real actions still work.
  const started = await c.api("POST", `/api/campaigns/${id}/start`);
  assert.equal(started.status, 200, await started.clone().text());
  assert.equal((await started.json()).state, "running");
});
