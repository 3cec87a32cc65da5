/**
 * The dialer end to end through the fake Twilio REST API and Twilio's signed status callbacks, on a
 * fake clock: 200 leads at maxConcurrent 10 with a known mix of outcomes (a failed call's Twilio reason,
 * ErrorCode and SipResponseCode, kept on its attempt), and a 5xx outage of Twilio's
 * REST API (backed off, no attempt counted, the lead dialled once it recovers).
 */
import assert from "node:assert/strict";
import { startCampaignParley } from "./_campaign_parley.ts";
import { loadConfig } from "../../src/config.ts";

const MONDAY_10_NY = Date.parse("2026-12-07T15:00:00Z");
const WINDOW = {
  timezone: "America/New_York",
  days: ["mon", "tue", "wed", "thu", "fri"],
  start: "09:00",
  end: "17:00",
};
const phoneOf = (i: number) => `+1415555${String(1000 + i).padStart(4, "0")}`;

/** What Twilio does with lead `i` on its attempt `n` (1-based), by `i % 10`. */
function behaviour(i: number, n: number): "answer" | "busy" | "no-answer" | "machine" | "failed" {
  switch (i % 10) {
    case 5:
      return "busy";
    case 6:
      return "no-answer";
    case 7:
      return "machine";
    case 8:
      return "failed";
    case 9:
      return n === 1 ? "busy" : "answer";
    default:
      return "answer";
  }
}

Deno.test("dialer: 200 leads at maxConcurrent 10: the cap, retries per policy, do-not-call, a 429 backed off", async () => {
  await using c = await startCampaignParley(MONDAY_10_NY);
  const dialer = c.t.parley.dialer!;
  const csv = ["name,phone,tags", ...Array.from({ length: 200 }, (_, i) => `Lead ${i},${phoneOf(i)},bulk`)]
    .join("\n");
  const imported = await c.api("POST", "/api/leads/import", csv);
  assert.equal(imported.status, 201);
  await imported.body?.cancel();
  // On the list before the campaign: skipped at creation.
  await (await c.api("POST", "/api/dnc", { phone: phoneOf(3) })).body?.cancel();

  const created = await c.api("POST", "/api/campaigns", {
    name: "Bulk",
    persona: "alex",
    leads: { tag: "bulk" },
    window: WINDOW,
    maxConcurrent: 10,
    callsPerSecond: 10,
    retry: {
      "no-answer": { after: 60, max: 2 },
      "busy": { after: 15, max: 3 },
      "failed": { after: 30, max: 1 },
    },
    start: true,
  });
  assert.equal(created.status, 201);
  const campaign = await created.json();
  assert.equal(campaign.counts.skipped.do_not_call, 1);

  const callsJson = () =>
    c.rest.requests.filter((r) => r.method === "POST" && r.path.endsWith("/Calls.json"));
  const attemptsOf = new Map<string, number>();
  const inFlight: { callSid: string; phone: string; placedRound: number }[] = [];
  let placedSeen = 0;
  let maxInFlight = 0;
  let round = 0;
  let rateLimited: string | undefined;
  let armedAt: number | undefined;
  const dialledAfterListing = new Set<string>();
  const listedMidway = new Set<string>();

  for (; round < 2000; round++) {
    if (round === 3) {
      c.rest.failNext(429, { code: 20429, message: "Too Many Requests", status: 429 });
      armedAt = callsJson().length;
    }
    await dialer.tick();
    const requests = callsJson();
    // The first request after the 429 was armed got it.
    if (armedAt !== undefined && rateLimited === undefined) {
      rateLimited = requests[armedAt]?.form.get("To") ?? undefined;
    }
    // The calls Twilio accepted, with the CallSid it gave each.
    const placed = c.t.events.filter((e) => e.type === "call.placed");
    for (const event of placed.slice(placedSeen)) {
      if (event.type !== "call.placed") continue;
      const phone = event.to;
      attemptsOf.set(phone, (attemptsOf.get(phone) ?? 0) + 1);
      if (listedMidway.has(phone)) dialledAfterListing.add(phone);
      inFlight.push({ callSid: event.callSid, phone, placedRound: round });
    }
    placedSeen = placed.length;
    maxInFlight = Math.max(maxInFlight, inFlight.length);

    if (listedMidway.size === 0 && attemptsOf.get(phoneOf(15)) === 1) {
      // Mid-campaign: a busy lead just dialled once, and one not yet dialled.
      assert.equal(attemptsOf.get(phoneOf(199)), undefined);
      for (const i of [15, 199]) {
        listedMidway.add(phoneOf(i));
        await (await c.api("POST", "/api/dnc", { phone: phoneOf(i) })).body?.cancel();
      }
    }

    // Calls placed before this round end now, each as its lead's behaviour says.
    const ending = inFlight.filter((call) => call.placedRound < round);
    for (const call of ending) {
      inFlight.splice(inFlight.indexOf(call), 1);
      const i = Number(call.phone.slice(-4)) - 1000;
      const what = behaviour(i, attemptsOf.get(call.phone)!);
      if (what === "machine") {
        await c.status(call.callSid, { AnsweredBy: "machine_end_beep" });
        // Parley's relay leaves the voicemail and ends the call so.
        c.t.hub.emit({
          type: "call.ended",
          at: c.clock.now,
          callSid: call.callSid,
          reason: "voicemail_left",
          detail: "",
        });
      }
      const status = what === "machine" || what === "answer" ? "completed" : what;
      // A failed call's final callback carries Twilio's reason: here a carrier's block (SIP 603).
      await c.status(call.callSid, {
        CallStatus: status,
        ...(what === "failed" ? { ErrorCode: "32009", SipResponseCode: "603" } : {}),
      });
    }
    await dialer.settled();

    const now = await (await c.api("GET", `/api/campaigns/${campaign.id}`)).json();
    if (now.state === "finished") break;
    // One second later; when nothing is due and nothing is in flight, to the next try.
    c.clock.now += 1000;
    if (inFlight.length === 0 && now.nextTryAt !== null && now.nextTryAt > c.clock.now) {
      c.clock.now = now.nextTryAt;
    }
  }

  const final = await (await c.api("GET", `/api/campaigns/${campaign.id}`)).json();
  assert.equal(final.state, "finished", `finished within ${round} rounds`);
  assert.equal(maxInFlight, 10, "the cap is reached and never passed");

  const expectedAttempts = (i: number) => {
    if (i === 3 || i === 199) return 0;
    if (i === 15) return 1;
    return { 5: 4, 6: 3, 7: 1, 8: 2, 9: 2 }[i % 10] ?? 1;
  };
  for (let i = 0; i < 200; i++) {
    assert.equal(attemptsOf.get(phoneOf(i)) ?? 0, expectedAttempts(i), `attempts of lead ${i}`);
  }
  assert.deepEqual([...dialledAfterListing], [], "a number listed mid-campaign is never dialled again");
  assert.ok(rateLimited !== undefined, "a request was answered 429");
  assert.equal(
    callsJson().filter((r) => r.form.get("To") === rateLimited).length,
    attemptsOf.get(rateLimited)! + 1,
    "the 429'd request was tried again and did not count as an attempt",
  );

  assert.deepEqual(final.counts.byDisposition, {
    "completed": 20 * 5 - 1 + 19, // i%10 in 0–4 but lead 3, and the 19 i%10 = 9 but lead 199
    "no-answer": 20,
    "busy": 19, // but lead 15
    "failed": 20,
    "voicemail_left": 20,
    "do_not_call": 0,
  });
  assert.deepEqual(final.counts.skipped, { bad_number: 0, do_not_call: 3, duplicate: 0, stopped: 0 });

  // Retries waited as the policy says: busy 15 minutes, no-answer 60, failed 30.
  const rows = (await (await c.api("GET", `/api/campaigns/${campaign.id}/calls`)).json()).calls as {
    phone: string;
    attempt: number;
    startedAt: number;
    disposition: string;
    detail: string;
  }[];
  // A failed call keeps Twilio's reason on its attempt, as the status callback gave it.
  const failed = rows.filter((row) => row.disposition === "failed");
  assert.equal(failed.length, 20 * 2, "each i%10 = 8 lead failed twice (max 1 retry)");
  for (const row of failed) {
    assert.match(
      row.detail,
      /\bErrorCode=32009\b/,
      `${row.phone} attempt ${row.attempt} keeps the ErrorCode`,
    );
    assert.match(
      row.detail,
      /\bSipResponseCode=603\b/,
      `${row.phone} attempt ${row.attempt} keeps the SIP code`,
    );
  }
  for (const [i, minutes] of [[5, 15], [6, 60], [8, 30]] as const) {
    const mine = rows.filter((row) => row.phone === phoneOf(i)).sort((a, b) => a.attempt - b.attempt);
    for (let n = 1; n < mine.length; n++) {
      assert.ok(
        mine[n]!.startedAt - mine[n - 1]!.startedAt >= minutes * 60_000,
        `lead ${i}'s retry ${n} waited`,
      );
    }
  }
  const results = (await (await c.api("GET", `/api/campaigns/${campaign.id}/results.csv`)).text()).trim()
    .split("\r\n");
  assert.equal(results.length, 201);
  // The export says why a lead's last call failed (its last_detail column), as the attempt keeps it.
  const failedLine = results.find((line) => line.includes(`,${phoneOf(8)},`) && line.includes(",failed,"));
  assert.match(failedLine ?? "", /,CallStatus=failed [^,]*\bErrorCode=32009\b[^,]*,/, String(failedLine));
  assert.match(failedLine ?? "", /,CallStatus=failed [^,]*\bSipResponseCode=603\b[^,]*,/, String(failedLine));
});

Deno.test("dialer: started at 16:59 with a 17:00 end, it places what fits, then waits for the next day; a lead in another zone goes on", async () => {
  const friday165957 = Date.parse("2026-12-04T21:59:57Z"); // 16:59:57 in New York, 13:59:57 in Los Angeles
  await using c = await startCampaignParley(friday165957);
  const dialer = c.t.parley.dialer!;
  const rows = Array.from({ length: 6 }, (_, i) => `Lead ${i},${phoneOf(i)},`);
  rows.push(`West,${phoneOf(50)},America/Los_Angeles`);
  const imported = await c.api("POST", "/api/leads/import", ["name,phone,timezone", ...rows].join("\n"));
  await imported.body?.cancel();
  const ids = (await (await c.api("GET", "/api/leads")).json()).leads.map((lead: { id: number }) => lead.id);
  const created = await (await c.api("POST", "/api/campaigns", {
    name: "Late",
    persona: "alex",
    leads: { ids },
    window: { ...WINDOW, days: ["mon", "fri"] },
    maxConcurrent: 10,
    callsPerSecond: 1,
    start: true,
  })).json();
  const placedTo = () => c.t.events.flatMap((e) => e.type === "call.placed" ? [e.to] : []);
  for (let second = 0; second < 6; second++) {
    await dialer.tick();
    c.clock.now += 1000;
  }
  // 16:59:57, :58, :59 in New York: one call a second (callsPerSecond 1); from 17:00 only the lead in Los Angeles.
  const placed = placedTo();
  assert.equal(placed.length, 4, placed.join(" "));
  assert.ok(placed.includes(phoneOf(50)), "the Los Angeles lead is inside its own window");
  const first = c.t.events.find((e) => e.type === "call.placed")!;
  // A call live at the window's end finishes, and counts.
  await c.status(first.callSid, { CallStatus: "completed" });
  await dialer.settled();
  const now = await (await c.api("GET", `/api/campaigns/${created.id}`)).json();
  assert.equal(now.counts.byDisposition.completed, 1);
  assert.equal(new Date(now.nextTryAt).toISOString(), "2026-12-07T14:00:00.000Z", "Monday 09:00 in New York");
  // The others finish; the campaign waits for Monday, then dials the rest.
  for (const event of c.t.events.filter((e) => e.type === "call.placed").slice(1)) {
    await c.status(event.callSid, { CallStatus: "completed" });
  }
  await dialer.settled();
  await dialer.tick();
  assert.equal((await (await c.api("GET", `/api/campaigns/${created.id}`)).json()).state, "waiting");
  c.clock.now = Date.parse("2026-12-07T14:00:00Z");
  for (let second = 0; second < 4; second++) {
    await dialer.tick();
    c.clock.now += 1000;
  }
  assert.equal(placedTo().length, 7, "the three left are dialled on Monday from 09:00");
});

Deno.test("dialer: INBOUND_RESERVE slots of MAX_CONCURRENT_CALLS stay free; a webhook call still gets in", async () => {
  await using c = await startCampaignParley(MONDAY_10_NY, {
    MAX_CONCURRENT_CALLS: "4",
    INBOUND_RESERVE: "1",
  });
  const dialer = c.t.parley.dialer!;
  const csv = ["name,phone", ...Array.from({ length: 8 }, (_, i) => `Lead ${i},${phoneOf(i)}`)].join("\n");
  await (await c.api("POST", "/api/leads/import", csv)).body?.cancel();
  const ids = (await (await c.api("GET", "/api/leads")).json()).leads.map((lead: { id: number }) => lead.id);
  await (await c.api("POST", "/api/campaigns", {
    name: "Reserve",
    persona: "alex",
    leads: { ids },
    window: WINDOW,
    maxConcurrent: 10,
    callsPerSecond: 10,
    start: true,
  })).body?.cancel();
  for (let second = 0; second < 3; second++) {
    await dialer.tick();
    c.clock.now += 1000;
  }
  const placed = c.t.events.filter((e) => e.type === "call.placed");
  assert.equal(placed.length, 3, "MAX_CONCURRENT_CALLS 4 less INBOUND_RESERVE 1");
  // The reserved slot takes an inbound call (at capacity its webhook would answer no stream, and this would throw).
  const inbound = await c.t.startCall({ persona: "tester" });
  inbound.close();
  await inbound.closed;
  // A campaign call ends: its slot goes to the next lead.
  await c.status(placed[0]!.callSid, { CallStatus: "no-answer" });
  await dialer.settled();
  await dialer.tick();
  assert.equal(c.t.events.filter((e) => e.type === "call.placed").length, 4);
});

Deno.test("INBOUND_RESERVE: 10% of MAX_CONCURRENT_CALLS by default; more than it is refused by name", () => {
  const base = { OPENAI_API_KEY: "sk-reserve-test-0123456789" };
  assert.equal(loadConfig(base).inboundReserve, 10);
  assert.equal(loadConfig({ ...base, MAX_CONCURRENT_CALLS: "25" }).inboundReserve, 2);
  assert.equal(loadConfig({ ...base, INBOUND_RESERVE: "0" }).inboundReserve, 0);
  assert.throws(
    () => loadConfig({ ...base, MAX_CONCURRENT_CALLS: "5", INBOUND_RESERVE: "6" }),
    /INBOUND_RESERVE: 6 is more than MAX_CONCURRENT_CALLS \(5\)/,
  );
  assert.throws(
    () => loadConfig({ ...base, INBOUND_RESERVE: "lots" }),
    /INBOUND_RESERVE: "lots" is not a whole number/,
  );
});

Deno.test("dialer: a 5xx from Twilio's REST API is backed off (doubling) with no attempt counted; the lead is dialled once it recovers", async () => {
  await using c = await startCampaignParley(MONDAY_10_NY);
  const dialer = c.t.parley.dialer!;
  const start = c.clock.now;
  const campaign = await (await c.api("POST", "/api/campaigns", {
    name: "Outage",
    persona: "alex",
    leads: { csv: `name,phone\nSolo,${phoneOf(0)}` },
    window: WINDOW,
    maxConcurrent: 1,
    callsPerSecond: 10,
    retry: { "failed": { after: 30, max: 1 } },
    start: true,
  })).json();
  const posts = () => c.rest.requests.filter((r) => r.method === "POST" && r.path.endsWith("/Calls.json"));
  const PENDING = { pending: 1, dialing: 0, done: 0, skipped: 0 };
  const view = async () => await (await c.api("GET", `/api/campaigns/${campaign.id}`)).json();
  const calls = async () => (await (await c.api("GET", `/api/campaigns/${campaign.id}/calls`)).json()).calls;

  // Twilio's edge answers an HTML 503, then its API a JSON 500; the third request goes through.
  c.rest.failNext(503, "<html><body><h1>503 Service Unavailable</h1></body></html>");
  c.rest.failNext(500, { code: 20500, message: "Internal Server Error", status: 500 });

  await dialer.tick();
  assert.equal(posts().length, 1, "the first request went out");
  let now = await view();
  assert.equal(now.counts.attempts, 0, "a 503 is no attempt");
  assert.deepEqual(now.counts.byState, PENDING, "the lead is back, pending");
  assert.equal(now.nextTryAt, start + 2_000, "after the first backoff");
  assert.deepEqual(await calls(), [], "no attempt listed");
  assert.equal(c.t.events.some((e) => e.type === "call.placed"), false);

  // Not before its time: the same second, and a millisecond short of it.
  await dialer.tick();
  c.clock.now = start + 1_999;
  await dialer.tick();
  assert.equal(posts().length, 1, "backed off: no request before the backoff ends");

  c.clock.now = start + 2_000;
  await dialer.tick();
  assert.equal(posts().length, 2, "tried again when the backoff ended");
  now = await view();
  assert.equal(now.counts.attempts, 0, "a 500 is no attempt either");
  assert.deepEqual(now.counts.byState, PENDING);
  assert.equal(now.nextTryAt, start + 2_000 + 4_000, "the second backoff doubled");

  c.clock.now = start + 5_999;
  await dialer.tick();
  assert.equal(posts().length, 2, "backed off again");

  // Twilio has recovered: the lead is dialled, once, as its first attempt.
  c.clock.now = start + 6_000;
  await dialer.tick();
  assert.equal(posts().length, 3);
  assert.equal(posts().every((r) => r.form.get("To") === phoneOf(0)), true);
  const placed = c.t.events.filter((e) => e.type === "call.placed");
  assert.equal(placed.length, 1, "one call placed");
  const [attempt] = await calls();
  assert.equal(attempt.attempt, 1, "the call Twilio took is the lead's first attempt");
  assert.equal(attempt.callSid, placed[0]!.callSid);
  assert.match(posts()[2]!.form.get("StatusCallback") ?? "", /attempt=1/, "its callback names attempt 1");

  await c.status(placed[0]!.callSid, { CallStatus: "completed" });
  await dialer.settled();
  await dialer.tick();
  now = await view();
  assert.equal(now.state, "finished");
  assert.equal(now.counts.attempts, 1);
  assert.deepEqual(now.counts.byDisposition, {
    completed: 1,
    "no-answer": 0,
    busy: 0,
    failed: 0,
    voicemail_left: 0,
    do_not_call: 0,
  });
  assert.equal(posts().length, 3, "dialled once after it recovered, never again");
});

Deno.test("dialer: a lead stored with a parley_ field or a line break (before they were refused) is dialled without them", async () => {
  let leadId = 0;
  await using c = await startCampaignParley(MONDAY_10_NY, {}, undefined, {
    before: async (store) => {
      const [lead] = await store.leads.create([{
        name: "Old Lead",
        phone: phoneOf(0),
        company: "Acme",
        notes: "",
        fields: { parley_source: "crm", Parley_Flag: "x", plan: "gold", address: "1 Main St\nSpringfield" },
      }]);
      leadId = lead!.id;
    },
  });
  const created = await c.api("POST", "/api/campaigns", {
    name: "Old leads",
    persona: "alex",
    leads: { ids: [leadId] },
    window: WINDOW,
    maxConcurrent: 1,
    start: true,
  });
  assert.equal(created.status, 201, await created.clone().text());
  await c.t.parley.dialer!.tick();
  const post = c.rest.requests.find((r) => r.method === "POST" && r.path.endsWith("/Calls.json"));
  assert.ok(post !== undefined, "the lead was dialled");
  // The voice webhook Twilio will fetch: the lead's own fields, none of Parley's names.
  const webhook = new URL(post.form.get("Url")!);
  assert.equal(webhook.searchParams.get("plan"), "gold");
  assert.equal(webhook.searchParams.get("address"), "1 Main St Springfield");
  assert.equal(webhook.searchParams.get("lead"), "Old Lead");
  assert.deepEqual(
    [...webhook.searchParams.keys()].filter((name) => name.toLowerCase().startsWith("parley_")),
    [],
  );
});
