/**
 * The campaigns API: 400s that name the field, leads from ids, a tag or a CSV with skipped leads by
 * reason, the state actions, the calls list and the results CSV; the do-not-call list's routes.
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

Deno.test("campaigns API: a bad request is a 400 naming the field", async () => {
  await using c = await startCampaignParley(MONDAY_10_NY);
  const good = { name: "December", persona: "alex", leads: { ids: [1] }, window: WINDOW };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...good, persona: "nobody" }, /^Field "persona": unknown persona "nobody"/],
    [
      { ...good, window: { ...WINDOW, timezone: "Mars/Olympus" } },
      /^Field "window.timezone": "Mars\/Olympus" is not an IANA/,
    ],
    [{ ...good, window: { ...WINDOW, start: "17:00", end: "09:00" } }, /^Field "window": has no hours/],
    [{ ...good, window: { ...WINDOW, days: [] } }, /^Field "window.days"/],
    [{ ...good, voice: "not-a-voice" }, /^Field "voice": /],
    [{ ...good, leads: {} }, /^Field "leads"/],
    [{ ...good, retry: { "no-answer": { after: -1 } } }, /^Field "retry.no-answer.after"/],
    [{ ...good, retry: { sometimes: { max: 1 } } }, /^Field "retry.sometimes": is not an outcome/],
    [{ ...good, maxConcurrent: 0 }, /^Field "maxConcurrent"/],
    [{ ...good, callsPerSecond: "fast" }, /^Field "callsPerSecond"/],
    [{ ...good, leads: { ids: [999] } }, /^Field "leads.ids": no lead with id 999/],
    [{ ...good, colour: "blue" }, /^Field "colour": unknown field/],
  ];
  for (const [body, pattern] of cases) {
    const response = await c.api("POST", "/api/campaigns", body);
    const answer = await response.json();
    assert.equal(response.status, 400, JSON.stringify(body));
    assert.match(answer.error, pattern);
  }
});

Deno.test("campaigns API: leads by tag or CSV, skipped by reason; start, pause, resume, stop; results", async () => {
  await using c = await startCampaignParley(MONDAY_10_NY);
  const imported = await c.api(
    "POST",
    "/api/leads/import",
    'name,phone,tags,timezone\nAda,+14155550100,december,America/Los_Angeles\nBob,+14155550101,"december,vip",\nCy,+14155550102,other,\n',
  );
  assert.equal(imported.status, 201, await imported.clone().text());
  await imported.body?.cancel();
  // A lead's own time zone (a `timezone` column or field) must be one.
  const badZone = await c.api(
    "POST",
    "/api/leads/import",
    "name,phone,timezone\nZed,+14155550109,Mars/Olympus\n",
  );
  const badAnswer = await badZone.json();
  assert.equal(badAnswer.errors[0].field, "timezone");
  assert.match(badAnswer.errors[0].message, /"Mars\/Olympus" is not an IANA time zone/);
  assert.equal((await c.api("POST", "/api/dnc", { phone: "+1 415 555 0103" })).status, 201);
  assert.equal((await c.api("POST", "/api/dnc", { phone: "+14155550103" })).status, 200, "already listed");
  assert.match((await (await c.api("POST", "/api/dnc", { phone: "555" })).json()).error, /^Field "phone"/);
  // Anything but {phone} is refused, naming what is wrong; nothing is listed.
  const refused = async (body: unknown) => {
    const response = await c.api("POST", "/api/dnc", body);
    assert.equal(response.status, 400);
    return (await response.json()).error as string;
  };
  assert.equal(
    await refused({ phone: "+14155550104", reason: "asked" }),
    'Unknown field "reason": the only field is phone',
  );
  assert.match(await refused(["+14155550104"]), /^Body: send a JSON object/);
  assert.match(await refused(null), /^Body: send a JSON object/);

  const byTag = await (await c.api("POST", "/api/campaigns", {
    name: "Tagged",
    persona: "alex",
    leads: { tag: "December" },
    window: WINDOW,
  })).json();
  assert.equal(byTag.state, "draft");
  assert.equal(byTag.leads, 2);
  assert.deepEqual(byTag.retry["busy"], { after: 15, max: 3 }, "defaults filled in");
  assert.equal(byTag.machineDetection, true);
  assert.equal(byTag.callsPerSecond, 1);

  // A window closed on Mondays: the dialer puts the lead back until Saturday and dials no one.
  const csv = "name,phone\nDee,+14155550104\nDup,+14155550104\nBad,12345\nListed,+14155550103\n";
  const response = await c.api("POST", "/api/campaigns", {
    name: "From CSV",
    persona: "alex",
    leads: { csv },
    window: { ...WINDOW, days: ["sat"] },
    maxConcurrent: 2,
  });
  assert.equal(response.status, 201);
  const fromCsv = await response.json();
  assert.deepEqual(fromCsv.counts.skipped, { bad_number: 1, do_not_call: 1, duplicate: 1, stopped: 0 });
  assert.equal(fromCsv.counts.byState.pending, 1);

  const action = async (id: number, name: string) => {
    const answer = await c.api("POST", `/api/campaigns/${id}/${name}`);
    await c.t.parley.dialer!.tick();
    return { status: answer.status, body: await answer.json() };
  };
  assert.equal((await action(fromCsv.id, "pause")).status, 409, "a draft is not paused");
  assert.equal((await action(fromCsv.id, "start")).body.state, "running");
  const waiting = await (await c.api("GET", `/api/campaigns/${fromCsv.id}`)).json();
  assert.equal(waiting.state, "waiting", "no lead is inside its window");
  assert.equal(
    new Date(waiting.nextTryAt).toISOString(),
    "2026-12-12T14:00:00.000Z",
    "Saturday 09:00 in New York",
  );
  assert.equal((await action(fromCsv.id, "pause")).body.state, "paused");
  assert.equal((await action(fromCsv.id, "resume")).body.state, "running");
  await c.t.parley.dialer!.tick();
  const stopped = await action(fromCsv.id, "stop");
  assert.equal(stopped.body.state, "stopped");
  assert.equal(stopped.body.counts.skipped.stopped, 1, "the pending lead is skipped as stopped");
  assert.equal((await action(fromCsv.id, "resume")).status, 409);
  assert.equal((await action(fromCsv.id, "dance")).status, 404);
  assert.equal(c.rest.requests.length, 0, "a campaign stopped before a tick dialled no one");

  const calls = await (await c.api("GET", `/api/campaigns/${fromCsv.id}/calls`)).json();
  assert.deepEqual(
    calls.calls.map((row: { phone: string; skipped: string }) => [row.phone, row.skipped]).sort(),
    [["+14155550103", "do_not_call"], ["+14155550104", "duplicate"], ["+14155550104", "stopped"], [
      "12345",
      "bad_number",
    ]],
  );
  const results = await c.api("GET", `/api/campaigns/${fromCsv.id}/results.csv`);
  assert.equal(results.headers.get("content-type"), "text/csv; charset=utf-8");
  const lines = (await results.text()).trim().split("\r\n");
  assert.equal(
    lines[0],
    "lead_id,name,phone,attempts,state,disposition,skipped,last_call_sid,last_detail,outcome_state,outcome_error",
  );
  assert.equal(lines.length, 5);

  const list = await (await c.api("GET", "/api/campaigns")).json();
  assert.deepEqual(list.campaigns.map((x: { name: string }) => x.name), ["From CSV", "Tagged"]);
  assert.equal((await c.api("GET", "/api/campaigns/77")).status, 404);

  const dnc = await (await c.api("GET", "/api/dnc")).json();
  assert.deepEqual(dnc.numbers.map((n: { phone: string }) => n.phone), ["+14155550103"]);
  const imports = await c.api("POST", "/api/dnc/import", "phone\n+14155550110\nnope\n");
  assert.equal(imports.status, 207);
  assert.equal((await imports.json()).added, 1);
  // 150 bad lines: all counted, the first 100 listed by line.
  const many = await (await c.api("POST", "/api/dnc/import", "phone\n" + "nope\n".repeat(150))).json();
  assert.deepEqual([many.added, many.refused, many.errors.length, many.errors[0].line], [0, 150, 100, 2]);
  assert.equal((await c.api("DELETE", "/api/dnc/%2B14155550110")).status, 200);
  assert.equal((await c.api("DELETE", "/api/dnc/%2B14155550110")).status, 404);
});

Deno.test("do-not-call API: a DELETE path that is not a number is a 400 naming the path, never a 500", async () => {
  await using c = await startCampaignParley(MONDAY_10_NY);
  for (
    const [path, pattern] of [
      ["/api/dnc/%ZZ", /^Path: "%ZZ" is not valid percent-encoding/],
      ["/api/dnc/%2B1415%E0%A4%A", /^Path: "%2B1415%E0%A4%A" is not valid percent-encoding/],
      ["/api/dnc/%00", /^Path: "\?" is not an E\.164 number/],
    ] as const
  ) {
    const response = await c.api("DELETE", path);
    assert.equal(response.status, 400, path);
    assert.match((await response.json()).error, pattern, path);
  }
  assert.ok(!c.t.logs.some((l) => l.line.includes("Unhandled error")), "nothing reached the 500 handler");
});
