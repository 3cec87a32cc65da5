/**
 * Hanging up a call whose media stream has not started — still ringing, or answered by the voice
 * webhook with Twilio's `start` still to come — from the calling page or `POST
 * /api/calls/:callSid/hangup`: Parley asks Twilio to end it, and the record, the `call.ended` event
 * and its webhook say `hung_up_by_user` (the detail: before the call connected), once. Whichever
 * comes first, Twilio's answer to the hang-up or its final status, the never-connected watch does
 * not call the end `never_connected`.
 */

import assert from "node:assert/strict";
import { STATUS_CALLBACK_PATH } from "../../src/paths.ts";
import { callDatabasePath, openCallStore } from "../../src/store/sqlite/call_store.ts";
import { openSqliteWebhookOutbox } from "../../src/store/sqlite/webhook_outbox.ts";
import {
  type FakeTwilioRest,
  type RecordedRequest,
  startFakeTwilioRest,
} from "../../testing/fake_twilio_rest.ts";
import {
  newCallSid,
  startTestParley,
  TEST_AUTH_TOKEN,
  type TestParley,
} from "../../testing/parley_harness.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../../testing/webhook_receiver.ts";
import { within } from "../../testing/within.ts";

const API_TOKEN = "hang-up-ringing-token-0123456789abcdef";
const AUTH = { authorization: `Bearer ${API_TOKEN}` };
const ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);
/** A Standard Webhooks secret (32 bytes, base64). */
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwC8ZbS0Ua4nA=";

interface Rig {
  t: TestParley;
  rest: FakeTwilioRest;
  hooks: WebhookReceiver;
}

/**
 * Runs `body` against a Parley with Twilio credentials (Twilio's REST API faked), a call store and
 * webhooks; `holdHangUps`, when given, holds Twilio's answer to each hang-up until it resolves.
 */
async function withRig(body: (rig: Rig) => Promise<void>, holdHangUps?: Promise<void>): Promise<void> {
  const dataDir = await Deno.makeTempDir();
  const store = openCallStore(callDatabasePath(dataDir));
  const outbox = openSqliteWebhookOutbox(callDatabasePath(dataDir));
  const hooks = await startWebhookReceiver(SECRET);
  const rest = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  const heldFetch: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const url = input instanceof Request ? input.url : String(input);
    const method = init?.method ?? (input instanceof Request ? input.method : "GET");
    if (holdHangUps !== undefined && method === "POST" && /\/Calls\/CA[0-9a-f]{32}\.json$/.test(url)) {
      await holdHangUps;
    }
    return response;
  };
  const t = await startTestParley({
    env: {
      API_TOKEN,
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_PHONE_NUMBER: "+14155550199",
      TWILIO_API_BASE_URL: rest.baseUrl,
      WEBHOOK_URL: hooks.url,
      WEBHOOK_SECRET: SECRET,
    },
    store,
    outbox,
    webhookTiming: { pollMs: 25 },
    fetch: heldFetch,
  });
  try {
    await body({ t, rest, hooks });
  } finally {
    await t.close();
    store.close();
    outbox.close();
    await rest.shutdown();
    await hooks.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

function hangUp(t: TestParley, callSid: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return fetch(`${t.origin}/api/calls/${callSid}/hangup`, { method: "POST", headers: AUTH })
    .then(async (response) => ({ status: response.status, body: await response.json() }));
}

/** Twilio's final status for `callSid`, posted (signed) to the status callback; resolves once handled. */
async function postFinalStatus(t: TestParley, callSid: string, status: string): Promise<void> {
  const response = await t.postTwilio(STATUS_CALLBACK_PATH, { CallSid: callSid, CallStatus: status });
  assert.equal(response.status, 204, `the status callback: ${response.status} ${await response.text()}`);
}

const isHangUpOf = (callSid: string) => (request: RecordedRequest) =>
  request.method === "POST" && request.path.endsWith(`/Calls/${callSid}.json`);

/**
 * The record (`GET /api/calls/:sid`, what the call page shows), the `call.ended` events and webhooks
 * all say `hung_up_by_user`, once, with Twilio's final `status` kept in the record.
 */
async function assertHungUpByUser(rig: Rig, callSid: string, status: string): Promise<void> {
  const { t, hooks } = rig;
  const response = await fetch(`${t.origin}/api/calls/${callSid}`, { headers: AUTH });
  assert.equal(response.status, 200);
  const record = await response.json();
  assert.equal(record.endReason, "hung_up_by_user", `the record: ${record.endReason} (${record.endDetail})`);
  assert.match(record.endDetail, /^hung up before the call connected/);
  assert.equal(record.startedAt, null);
  assert.ok(
    (record.statuses as { status: string }[]).some((s) => s.status === status),
    `Twilio's ${status} kept: ${JSON.stringify(record.statuses)}`,
  );

  const ends = t.events.filter((e) => e.type === "call.ended" && e.callSid === callSid);
  assert.equal(ends.length, 1, `one call.ended: ${JSON.stringify(ends)}`);
  assert.equal(ends[0]!.type === "call.ended" && ends[0]!.reason, "hung_up_by_user");

  await within(
    hooks.waitFor((r) => r.some((w) => w.body.type === "call.ended" && w.body.data.callSid === callSid)),
    "the call.ended webhook",
  );
  const webhooks = hooks.received.filter((w) =>
    w.body.type === "call.ended" && w.body.data.callSid === callSid
  );
  assert.equal(webhooks.length, 1);
  assert.equal(webhooks[0]!.body.data.endReason, "hung_up_by_user");
  assert.ok(
    !t.logs.some((l) => l.line.includes(`CallSid=${callSid} reason=never_connected`)),
    "never logged as never_connected",
  );
}

Deno.test("a placed call hung up while it rings ends hung_up_by_user at Twilio's answer, and Twilio's final status changes nothing", async () => {
  await withRig(async (rig) => {
    const { t, rest } = rig;
    const placed = await fetch(`${t.origin}/api/calls`, {
      method: "POST",
      headers: { ...AUTH, "content-type": "application/json" },
      body: JSON.stringify({ to: "+14155550123", persona: "alex" }),
    });
    assert.equal(placed.status, 201);
    const { callSid } = await placed.json();
    await within(t.waitForEvent("call.placed", (e) => e.callSid === callSid), "the call placed");
    await postFinalStatus(t, callSid, "ringing");

    assert.deepEqual(await hangUp(t, callSid), { status: 200, body: { callSid, via: "twilio" } });
    const asked = await within(rest.waitForRequest(isHangUpOf(callSid)), "Twilio asked to hang up");
    assert.equal(asked.form.get("Status"), "completed");
    // Ended at Twilio's answer: an inbound number may have no status callback to wait for.
    const ended = await within(t.waitForEvent("call.ended", (e) => e.callSid === callSid), "the end");
    assert.equal(ended.reason, "hung_up_by_user");
    assert.equal(ended.detail, "hung up before the call connected (Twilio took the hang-up)");
    assert.match(
      await within(t.waitForLog(new RegExp(`Call ended: CallSid=${callSid} reason=`)), "the end logged"),
      /reason=hung_up_by_user \(hung up before the call connected/,
    );

    // Twilio then reports the call canceled: recorded, and no second end.
    await postFinalStatus(t, callSid, "canceled");
    await within(
      t.waitForEvent("call.status", (e) => e.callSid === callSid && e.status === "canceled"),
      "status",
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    await assertHungUpByUser(rig, callSid, "canceled");
    assert.equal((await hangUp(t, callSid)).status, 404, "an ended call is hung up no more");
  });
});

Deno.test("a call hung up between the voice webhook and `start` ends hung_up_by_user when Twilio's final status comes before its answer", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  await withRig(async (rig) => {
    const { t, rest } = rig;
    const callSid = newCallSid();
    // Released before the server stops, whatever happened: it waits for the hang-up's answer.
    using _release = { [Symbol.dispose]: () => release() };
    await t.answerWebhook(callSid); // answered: its session pre-warms, Twilio's socket not yet open
    const prewarm = await within(t.upstream.session(0), "the session pre-warmed on the webhook");

    const answer = hangUp(t, callSid);
    await within(rest.waitForRequest(isHangUpOf(callSid)), "Twilio asked to hang up");
    // Twilio's status callback overtakes its answer to the hang-up (held here).
    await postFinalStatus(t, callSid, "completed");
    const ended = await within(t.waitForEvent("call.ended", (e) => e.callSid === callSid), "the end");
    assert.equal(ended.reason, "hung_up_by_user", `ended ${ended.reason} (${ended.detail})`);
    assert.equal(
      ended.detail,
      "hung up before the call connected (Twilio reports the call completed before any media stream)",
    );
    // The pre-warm is not left to run (and bill) until its 15 s expiry.
    await within(prewarm.closed, "the pre-warmed session closing", 3_000);

    release();
    assert.deepEqual(await answer, { status: 200, body: { callSid, via: "twilio" } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await assertHungUpByUser(rig, callSid, "completed");
  }, held);
});

Deno.test("Twilio refusing the hang-up of a ringing call leaves it as it was: its final status then ends it never_connected", async () => {
  await withRig(async ({ t, rest }) => {
    const callSid = newCallSid();
    await t.answerWebhook(callSid);
    rest.failNext(500, { code: 20500, message: "Internal Server Error", status: 500 });
    const refused = await hangUp(t, callSid);
    assert.equal(refused.status, 502, JSON.stringify(refused.body));
    // The callee hangs up on their own: not the user's doing.
    await postFinalStatus(t, callSid, "completed");
    const ended = await within(t.waitForEvent("call.ended", (e) => e.callSid === callSid), "the end");
    assert.equal(ended.reason, "never_connected");
  });
});
