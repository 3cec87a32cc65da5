/**
 * The results CSV (`GET /api/campaigns/:id/results.csv`) gives each lead its last call's outcome from
 * post-call analysis, in the columns `GET /api/calls.csv` uses, and escapes cells as every CSV does;
 * the results the page shows (`GET /api/campaigns/:id/calls`) give each attempt its outcome.
 */
import assert from "node:assert/strict";
import { startCampaignParley } from "./_campaign_parley.ts";
import { parseCsv } from "../../src/api/csv.ts";

const MONDAY_10_NY = Date.parse("2026-12-07T15:00:00Z");

Deno.test("results CSV: the lead, attempts, final disposition and the last call's outcome", async () => {
  await using c = await startCampaignParley(MONDAY_10_NY, {}, undefined, { shared: true });
  const dialer = c.t.parley.dialer!;
  const csv = 'name,phone\n"=Lovelace, Ada",+14155551234\nBabbage,+14155551235\n';
  const campaign = await (await c.api("POST", "/api/campaigns", {
    name: "Results",
    persona: "alex",
    leads: { csv },
    window: { timezone: "UTC", days: ["mon"], start: "00:00", end: "24:00" },
    maxConcurrent: 2,
    callsPerSecond: 2,
    start: true,
  })).json();
  await dialer.tick();
  c.clock.now += 1000;
  await dialer.tick();
  assert.equal(c.rest.calls.length, 2);
  const [ada, babbage] = c.rest.calls;
  for (const call of c.rest.calls) await c.status(call.sid, { CallStatus: "completed" });
  await dialer.settled();

  // Ada's call was analysed; Babbage's analysis failed.
  const analyses = c.store.analyses!;
  const spec = { persona: "alex", model: "gpt-5-mini", schema: {}, instructions: null };
  await analyses.enqueue(ada!.sid, spec, c.clock.now);
  await analyses.enqueue(babbage!.sid, spec, c.clock.now);
  await analyses.claim(c.store.instance, c.clock.now, 2, 60_000);
  await analyses.succeed(ada!.sid, {
    at: c.clock.now,
    outcome: { interested: true, demo_at: "Tuesday, 10:00", objections: ["price"] },
    usage: { inputTokens: 1, cachedInputTokens: 0, outputTokens: 1 },
    costUsd: 0.0001,
  });
  await analyses.fail(babbage!.sid, "the model refused", c.clock.now);

  const response = await c.api("GET", `/api/campaigns/${campaign.id}/results.csv`);
  assert.equal(response.headers.get("content-type"), "text/csv; charset=utf-8");
  const [header, ...rows] = parseCsv(await response.text()).map((record) => record.cells);
  assert.deepEqual(header, [
    "lead_id",
    "name",
    "phone",
    "attempts",
    "state",
    "disposition",
    "skipped",
    "last_call_sid",
    "last_detail",
    "outcome_state",
    "outcome_error",
    "outcome.interested",
    "outcome.demo_at",
    "outcome.objections",
  ]);
  assert.deepEqual(rows, [
    [
      "",
      "'=Lovelace, Ada",
      "+14155551234",
      "1",
      "done",
      "completed",
      "",
      ada!.sid,
      "CallStatus=completed",
      "done",
      "",
      "true",
      "Tuesday, 10:00",
      '["price"]',
    ],
    [
      "",
      "Babbage",
      "+14155551235",
      "1",
      "done",
      "completed",
      "",
      babbage!.sid,
      "CallStatus=completed",
      "failed",
      "the model refused",
      "",
      "",
      "",
    ],
  ]);

  const { calls } = await (await c.api("GET", `/api/campaigns/${campaign.id}/calls`)).json();
  const outcomes = Object.fromEntries(
    calls.map((
      row: { callSid: string; outcome: Record<string, unknown> | null },
    ) => [row.callSid, row.outcome]),
  );
  assert.equal(outcomes[ada!.sid].state, "done");
  assert.deepEqual(outcomes[ada!.sid].result, {
    interested: true,
    demo_at: "Tuesday, 10:00",
    objections: ["price"],
  });
  assert.equal(outcomes[babbage!.sid].state, "failed");
  assert.equal(outcomes[babbage!.sid].error, "the model refused");
});
