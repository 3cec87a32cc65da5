/**
 * Admission through the public surface: the voice webhook is idempotent per CallSid (a replayed
 * webhook opens no session and takes no capacity; the webhook of a started or ended call opens
 * nothing), a drain ends once an answered call can no longer come, and POST /api/calls obeys the
 * same capacity and drain rule as the webhook and the softphone.
 */

import assert from "node:assert/strict";
import { VOICE_WEBHOOK_PATH } from "../../src/paths.ts";
import { startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";
import {
  newCallSid,
  startTestParley,
  TEST_AUTH_TOKEN,
  TEST_PUBLIC_BASE_URL,
  type TestParley,
} from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";

const API_TOKEN = "admission-test-token-0123456789";
const ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);
const HANGUP = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>';

/** Posts the signed voice webhook for `callSid`, as Twilio (or a replaying attacker) would. */
async function webhook(t: TestParley, callSid: string, query = ""): Promise<string> {
  const path = `${VOICE_WEBHOOK_PATH}${query}`;
  const form = { CallSid: callSid, AccountSid: "AC00000000000000000000000000000000", Direction: "inbound" };
  const response = await fetch(`${t.origin}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      ...t.twilioHeaders(`${TEST_PUBLIC_BASE_URL}${path}`, form),
    },
    body: new URLSearchParams(form),
  });
  assert.equal(response.status, 200);
  return await response.text();
}

const streamUrlOf = (twiml: string) => /<Stream url="([^"]+)"/.exec(twiml)?.[1];

/** One counter of the /metrics text. */
async function metric(t: TestParley, line: RegExp): Promise<number> {
  const text = await (await fetch(`${t.origin}/metrics`, {
    headers: { authorization: `Bearer ${API_TOKEN}` },
  })).text();
  const found = text.split("\n").find((l) => line.test(l));
  return found === undefined ? 0 : Number(found.split(" ").pop());
}
const prewarmsOpened = (t: TestParley) => metric(t, /^parley_prewarm_total\{outcome="opened"\} /);

Deno.test("200 replays of one signed webhook: one token, one pre-warm, one slot; a real caller still gets a stream", async () => {
  const t = await startTestParley({ env: { API_TOKEN, MAX_CONCURRENT_CALLS: "2" } });
  try {
    const captured = newCallSid();
    const answers = await Promise.all(Array.from({ length: 200 }, () => webhook(t, captured)));
    assert.equal(new Set(answers).size, 1, "every replay gets the first answer, with the same token");
    assert.ok(streamUrlOf(answers[0]!) !== undefined, "the first webhook got a stream");
    assert.equal(await prewarmsOpened(t), 1, "only the first webhook pre-warmed");
    assert.equal(t.events.filter((e) => e.type === "call.webhook").length, 1, "one record");
    assert.ok(t.logs.some((l) => /Repeated voice webhook for CallSid=/.test(l.line)));

    // The replays took one slot of two: a real caller right after still connects.
    const real = newCallSid();
    const realUrl = streamUrlOf(await webhook(t, real));
    assert.ok(realUrl !== undefined, "a real caller gets a <Stream>, not the fallback");
    const call = await t.connectStream(realUrl, real);
    call.start({});
    await t.waitForEvent("call.started", (e) => e.callSid === real);
    await t.upstream.session(1);
    assert.equal(t.upstream.handshakes.length, 2, "the captured call's pre-warm and the real caller's");
    assert.equal(await prewarmsOpened(t), 2);

    // A third call finds both slots taken (the captured webhook's still holds one).
    assert.equal(streamUrlOf(await webhook(t, newCallSid())), undefined);
    call.stop();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("a webhook Twilio retries while its call is pending gets the same stream, which connects once", async () => {
  const t = await startTestParley({ env: { API_TOKEN } });
  try {
    const callSid = newCallSid();
    const first = await webhook(t, callSid, "?persona=tester");
    const retry = await webhook(t, callSid, "?persona=tester");
    assert.equal(retry, first);
    const call = await t.connectStream(streamUrlOf(retry)!, callSid);
    call.start({ persona: "tester" });
    await t.waitForEvent("call.started", (e) => e.callSid === callSid);
    assert.equal(await metric(t, /^parley_prewarm_total\{outcome="claimed"\} /), 1, "on its pre-warm");
    call.stop();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("the webhook of a call that started, or that ended, gets <Hangup/> and opens nothing", async () => {
  const t = await startTestParley({ env: { API_TOKEN } });
  try {
    const call = await t.startCall({ persona: "tester" });
    await t.waitForEvent("call.started");
    await t.upstream.session(0);
    assert.equal(await webhook(t, call.callSid), HANGUP, "started");
    call.stop();
    await t.waitForEvent("call.ended");
    await call.closed;
    assert.equal(await webhook(t, call.callSid, "?persona=tester"), HANGUP, "ended");
    assert.ok(
      t.logs.some((l) => /whose call already started: answered <Hangup\/>, opened nothing/.test(l.line)),
    );
    assert.equal(await prewarmsOpened(t), 1, "no pre-warm for either replay");
    assert.equal(t.upstream.handshakes.length, 1, "nothing opened upstream");
    assert.equal(t.events.filter((e) => e.type === "call.webhook").length, 1);
  } finally {
    await t.close();
  }
});

Deno.test("a duplicate webhook for a live call does not end it as never_connected later", async () => {
  // 2 s: the call's own stream (startCall posts its webhook first) must start inside it even while
  // other test files load the machine; at 200 ms a slow `start` was, rightly, ended as never_connected.
  const t = await startTestParley({ env: { API_TOKEN }, streamConnectTimeoutMs: 2000 });
  try {
    const call = await t.startCall({ persona: "tester" });
    await t.waitForEvent("call.started");
    await webhook(t, call.callSid);
    // A call whose socket never comes, answered after the duplicate: its watch ends after the
    // duplicate's would have.
    const control = newCallSid();
    await webhook(t, control);
    const ended = await within(t.waitForEvent("call.ended", (e) => e.callSid === control), "the control");
    assert.equal(ended.reason, "never_connected");
    assert.equal(t.events.filter((e) => e.type === "call.ended" && e.callSid === call.callSid).length, 0);
    call.stop();
    const own = await within(t.waitForEvent("call.ended", (e) => e.callSid === call.callSid), "its end");
    assert.equal(own.reason, "caller_hung_up");
  } finally {
    await t.close();
  }
});

const PREWARM_TTL_MS = 1_500;

Deno.test("a drain ends once an answered call's pre-warm expired, not after the token's 60 s", async () => {
  // Long enough that a loaded machine (twelve test files at once, a cold type-check) still checks the
  // drain inside it: at 300 ms one CI run's /healthz came after the pre-warm had rightly expired.
  const t = await startTestParley({ env: { API_TOKEN }, prewarmTtlMs: PREWARM_TTL_MS });
  try {
    const callSid = newCallSid();
    const askedAt = performance.now();
    assert.ok(streamUrlOf(await webhook(t, callSid)) !== undefined);
    let drained = false;
    const drain = t.parley.drain().then(() => drained = true);
    const health = await fetch(`${t.origin}/healthz`);
    assert.equal(health.status, 503);
    await health.body?.cancel();
    assert.equal(drained, false, "the answered call may still come: the drain waits for it");
    // Still answered as before while it may come; a new call is refused.
    assert.ok(streamUrlOf(await webhook(t, callSid)) !== undefined);
    assert.equal(streamUrlOf(await webhook(t, newCallSid())), undefined);
    await within(drain, "the drain to end after the pre-warm's lifetime", 3 * PREWARM_TTL_MS);
    assert.ok(performance.now() - askedAt >= PREWARM_TTL_MS, "not before the pre-warm expired");
    await t.waitForLog(/not claimed within 1\.5 s/);
  } finally {
    await t.close();
  }
});

/** Parley placing calls through the fake Twilio REST API at `twilioBaseUrl`, one call at a time. */
function startPlacingParley(twilioBaseUrl: string): Promise<TestParley> {
  return startTestParley({
    env: {
      API_TOKEN,
      MAX_CONCURRENT_CALLS: "1",
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_PHONE_NUMBER: "+14155550199",
      TWILIO_API_BASE_URL: twilioBaseUrl,
    },
  });
}

/** `POST /api/calls` for the tester persona. */
function placeCall(t: TestParley): Promise<Response> {
  return fetch(`${t.origin}/api/calls`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ to: "+14155550100", persona: "tester" }),
  });
}

Deno.test("POST /api/calls obeys admission: a placed call holds a slot, capacity and draining answer 503", async () => {
  await using twilio = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  const t = await startPlacingParley(twilio.baseUrl);
  try {
    const place = () => placeCall(t);
    const placed = await place();
    assert.equal(placed.status, 201);
    const { callSid } = await placed.json();

    const full = await place();
    assert.equal(full.status, 503);
    assert.equal(
      (await full.json()).error,
      "No call placed: MAX_CONCURRENT_CALLS=1 calls are in progress: try again later",
    );
    assert.equal(twilio.requests.length, 1, "Twilio was not asked to place the refused call");
    // The placed call's own webhook is not refused: it holds the slot already.
    assert.ok(streamUrlOf(await webhook(t, callSid, "?persona=tester")) !== undefined);
    assert.equal(streamUrlOf(await webhook(t, newCallSid())), undefined, "another caller is");

    void t.parley.drain(); // ended by the shutdown below: the placed call never connects
    const draining = await place();
    assert.equal(draining.status, 503);
    assert.equal(
      (await draining.json()).error,
      "No call placed: The server is draining for a shutdown: no new calls",
    );
  } finally {
    await t.close();
  }
});

Deno.test("POST /api/calls: a burst at capacity places one call, not one per request", async () => {
  await using twilio = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  const t = await startPlacingParley(twilio.baseUrl);
  try {
    const place = async () => {
      const response = await placeCall(t);
      await response.body?.cancel();
      return response.status;
    };
    // A refusal by Twilio gives the slot back: the next request places its call.
    twilio.failNext(400, { code: 21211, message: "Invalid 'To' Phone Number" });
    assert.equal(await place(), 502);
    // Every request of the burst is read and checked before any of them reaches Twilio.
    const statuses = await Promise.all(Array.from({ length: 5 }, place));
    assert.deepEqual(statuses.toSorted(), [201, 503, 503, 503, 503]);
    assert.equal(twilio.calls.length, 1, "Twilio was asked to place one call");
  } finally {
    await t.close();
  }
});
