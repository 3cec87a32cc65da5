/**
 * Two Parleys on one SQLite store (one DATA_DIR, standing in for a shared database; the same on real
 * Postgres, as separate processes: tests/cluster/campaign_cluster_test.ts) run one campaign, on one fake
 * clock and one fake Twilio REST API: the campaign's `callsPerSecond` holds for both together, and a
 * final status that reaches the instance that did not run the call still gets the disposition the
 * call's end gave it (read from the shared call record).
 */
import assert from "node:assert/strict";
import { type CampaignParley, startCampaignParley } from "./_campaign_parley.ts";

const MONDAY_10_NY = Date.parse("2026-12-07T15:00:00Z");
const WINDOW = { timezone: "UTC", days: ["mon"], start: "00:00", end: "24:00" };

async function twoInstances(): Promise<[CampaignParley, CampaignParley] & AsyncDisposable> {
  const alpha = await startCampaignParley(MONDAY_10_NY, {}, undefined, { shared: true, instance: "alpha" });
  const dir = alpha.dir;
  const beta = await startCampaignParley(MONDAY_10_NY, {}, undefined, {
    shared: true,
    instance: "beta",
    dir,
    rest: alpha.rest,
    clock: alpha.clock,
  });
  const pair = [alpha, beta] as [CampaignParley, CampaignParley] & AsyncDisposable;
  pair[Symbol.asyncDispose] = async () => {
    await beta[Symbol.asyncDispose]();
    await alpha[Symbol.asyncDispose]();
  };
  return pair;
}

async function campaignOf(c: CampaignParley, phones: string[], callsPerSecond: number) {
  const csv = ["name,phone", ...phones.map((phone, i) => `Lead ${i},${phone}`)].join("\n");
  const response = await c.api("POST", "/api/campaigns", {
    name: "Two instances",
    persona: "alex",
    leads: { csv },
    window: WINDOW,
    maxConcurrent: 10,
    callsPerSecond,
    start: false,
  });
  assert.equal(response.status, 201);
  const campaign = await response.json();
  const started = await c.api("POST", `/api/campaigns/${campaign.id}/start`);
  await started.body?.cancel();
  return campaign as { id: number };
}

Deno.test("two instances: callsPerSecond holds for the campaign as a whole", async () => {
  await using pair = await twoInstances();
  const [alpha, beta] = pair;
  const phones = Array.from({ length: 6 }, (_, i) => `+1415555300${i}`);
  await campaignOf(alpha, phones, 1);
  // Both dialers pass at the same instant, then again each second.
  for (let second = 0; second < 3; second++) {
    await alpha.t.parley.dialer!.tick();
    await beta.t.parley.dialer!.tick();
    assert.equal(alpha.rest.calls.length, second + 1, `one call a second across both (second ${second})`);
    alpha.clock.now += 1000;
  }
  const byInstance = [alpha, beta].map((c) => c.t.events.filter((e) => e.type === "call.placed").length);
  assert.deepEqual(byInstance.reduce((a, b) => a + b), 3);
});

Deno.test("two instances: a final status reaching the other instance still reads how the call ended", async () => {
  await using pair = await twoInstances();
  const [alpha, beta] = pair;
  const campaign = await campaignOf(alpha, ["+14155553100", "+14155553101"], 2);
  await alpha.t.parley.dialer!.tick();
  assert.equal(alpha.rest.calls.length, 2);
  const [voicemail, blocked] = alpha.rest.calls;
  // alpha ran both calls: a machine took one and the persona left a message; on the other the person
  // asked not to be called. alpha's records say so in the shared store.
  const at = alpha.clock.now;
  await alpha.store.calls.record({
    type: "call.status",
    at,
    callSid: voicemail!.sid,
    status: "machine-detected",
    detail: "AnsweredBy=machine_end_beep",
  });
  await alpha.store.calls.record({
    type: "call.ended",
    at,
    callSid: voicemail!.sid,
    reason: "voicemail_left",
    detail: "",
  });
  await alpha.store.calls.record({
    type: "tool.called",
    at,
    callSid: blocked!.sid,
    callId: "call_1",
    name: "do_not_call",
    arguments: "{}",
    status: "ok",
    resultBytes: 2,
    durationMs: 3,
  });
  await alpha.store.calls.record({
    type: "call.ended",
    at,
    callSid: blocked!.sid,
    reason: "agent_hung_up",
    detail: "",
  });

  // Twilio's final statuses come through the load balancer to beta.
  await beta.status(voicemail!.sid, { CallStatus: "completed" });
  await beta.status(blocked!.sid, { CallStatus: "completed" });
  await beta.t.parley.dialer!.settled();

  const calls = (await (await beta.api("GET", `/api/campaigns/${campaign.id}/calls`)).json()).calls as {
    callSid: string;
    disposition: string;
  }[];
  assert.deepEqual(
    calls.map((call) => [call.callSid, call.disposition]),
    [[voicemail!.sid, "voicemail_left"], [blocked!.sid, "do_not_call"]],
  );
});

Deno.test("two instances: the final status reaching the placer of a call the other ran follows the record", async () => {
  await using pair = await twoInstances();
  const [alpha, beta] = pair;
  const campaign = await campaignOf(alpha, ["+14155553100"], 2);
  await alpha.t.parley.dialer!.tick();
  assert.equal(alpha.rest.calls.length, 1);
  const callSid = alpha.rest.calls[0]!.sid;
  // Twilio's webhook and media stream went to beta: it ran the call, a machine took it, and the
  // persona left a message. Its records say so in the shared store; alpha heard none of it.
  const at = alpha.clock.now;
  const calls = beta.store.calls;
  await calls.record({
    type: "call.webhook",
    at,
    callSid,
    persona: "alex",
    direction: "outbound-api",
    from: "+14155550199",
    to: "+14155553100",
    parameters: {},
  });
  await calls.record({
    type: "call.started",
    at,
    callSid,
    streamSid: `MZ${"0".repeat(32)}`,
    persona: "alex",
    model: "gpt-realtime",
    parameters: {},
  });
  await calls.record({
    type: "call.status",
    at,
    callSid,
    status: "machine-detected",
    detail: "AnsweredBy=machine_end_beep",
  });
  await calls.record({ type: "call.ended", at, callSid, reason: "voicemail_left", detail: "" });

  // Twilio's final status comes back to alpha, which placed the call.
  await alpha.status(callSid, { CallStatus: "completed" });
  await alpha.t.parley.dialer!.settled();

  const attempts = (await (await alpha.api("GET", `/api/campaigns/${campaign.id}/calls`)).json()).calls as {
    disposition: string;
  }[];
  assert.deepEqual(attempts.map((attempt) => attempt.disposition), ["voicemail_left"]);
  const leads = await alpha.store.campaigns.leads(campaign.id);
  assert.deepEqual(
    leads.map((lead) => [lead.state, lead.disposition]),
    [["done", "voicemail_left"]],
    "not redialled",
  );
  assert.equal((await alpha.store.calls.getCall(callSid))?.endReason, "voicemail_left");
  assert.deepEqual(
    alpha.t.events.filter((event) => event.type === "call.ended"),
    [],
    "alpha does not end a call beta ran (no never_connected of its own)",
  );
});
