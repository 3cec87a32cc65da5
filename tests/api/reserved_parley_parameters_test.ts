/**
 * `parley_source` (and every `parley_` name) is Parley's own: the voice webhook reads
 * `?parley_source=` as the rehearsal marker and refuses any other value, so a call parameter, lead
 * field, CSV column or campaign parameter of that name is refused up front with a 400 naming it,
 * before Twilio is asked for a call whose webhook would then fail.
 */
import assert from "node:assert/strict";
import { startCampaignParley } from "../dialer/_campaign_parley.ts";

const MONDAY_10_NY = Date.parse("2026-12-07T15:00:00Z");
const WINDOW = {
  timezone: "America/New_York",
  days: ["mon", "tue", "wed", "thu", "fri"],
  start: "09:00",
  end: "17:00",
};

async function answer(response: Response): Promise<{ status: number; body: Record<string, unknown> }> {
  return { status: response.status, body: await response.json() };
}

Deno.test("POST /api/calls refuses a parley_ parameter with 400 naming it, and asks Twilio for nothing", async () => {
  await using c = await startCampaignParley(MONDAY_10_NY);
  for (const name of ["parley_source", "parley_campaign", "Parley_Source"]) {
    for (const value of ["crm", "rehearsal"]) {
      const { status, body } = await answer(
        await c.api("POST", "/api/calls", { to: "+14155550100", parameters: { [name]: value } }),
      );
      assert.equal(status, 400, `${name}=${value}: ${JSON.stringify(body)}`);
      assert.equal(
        body.error,
        `Field "parameters": name "${name}" is reserved: names starting with "parley_" are Parley's own`,
      );
    }
  }
  assert.equal(c.rest.calls.length, 0, "no call was placed");
  // Other names are still call parameters.
  const placed = await c.api("POST", "/api/calls", {
    to: "+14155550100",
    parameters: { source: "crm", parley: "x" },
  });
  assert.equal(placed.status, 201, await placed.clone().text());
  await placed.body?.cancel();
});

Deno.test("a lead field or CSV column named parley_source is refused, naming the field", async () => {
  await using c = await startCampaignParley(MONDAY_10_NY);
  const created = await answer(
    await c.api("POST", "/api/leads", {
      name: "Ada",
      phone: "+14155550100",
      fields: { parley_source: "rehearsal" },
    }),
  );
  assert.deepEqual(created, {
    status: 400,
    body: {
      error: `Field "fields.parley_source": is reserved: names starting with "parley_" are Parley's own`,
      field: "fields.parley_source",
    },
  });
  const imported = await answer(
    await c.api(
      "POST",
      "/api/leads/import",
      "name,phone,parley_source\nAda,+14155550100,crm\nBo,+14155550101,\n",
    ),
  );
  assert.equal(imported.status, 207, JSON.stringify(imported.body));
  assert.deepEqual(imported.body.errors, [
    {
      line: 2,
      field: "parley_source",
      message: `is reserved: names starting with "parley_" are Parley's own`,
    },
  ]);
  assert.deepEqual(
    (imported.body.imported as { name: string }[]).map((lead) => lead.name),
    ["Bo"],
    "the row with an empty cell carries no such field",
  );
});

Deno.test("POST /api/campaigns refuses a parley_source parameter with 400 naming it", async () => {
  await using c = await startCampaignParley(MONDAY_10_NY);
  const lead = await c.api("POST", "/api/leads", { name: "Ada", phone: "+14155550100" });
  const { id } = await lead.json();
  const { status, body } = await answer(
    await c.api("POST", "/api/campaigns", {
      name: "December",
      persona: "alex",
      leads: { ids: [id] },
      window: WINDOW,
      parameters: { parley_source: "rehearsal" },
      start: true,
    }),
  );
  assert.equal(status, 400, JSON.stringify(body));
  assert.equal(
    body.error,
    `Field "parameters": name "parley_source" is reserved: names starting with "parley_" are Parley's own`,
  );
  assert.deepEqual(await (await c.api("GET", "/api/campaigns")).json(), { campaigns: [] });
});
