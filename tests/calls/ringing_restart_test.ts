/**
 * A restart while a call Parley placed is still ringing: the new start takes the call up instead of
 * closing its record as `server_crashed`. When the callee answers, the voice webhook answers the
 * `<Connect><Stream>` of the persona and parameters the call was placed with, and the call runs; a
 * final status Twilio reports ends the record as it would have without the restart; and each call
 * taken up holds its admission slot. Real processes (`main.ts`, killed with SIGKILL), the fakes of
 * Twilio's REST API and OpenAI, and real sockets.
 */

import assert from "node:assert/strict";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import { type FakeTwilioRest, startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";
import {
  listeningPort,
  type ParleyProcess,
  PROCESS_API_TOKEN,
  PROCESS_AUTH_TOKEN,
  PROCESS_PUBLIC_BASE_URL,
  PROCESS_TARGET,
  processEnv,
  reap,
  spawnParley,
} from "../../testing/parley_process.ts";
import { connectStream, postVoiceWebhook } from "../../testing/twilio_webhook.ts";
import { within } from "../../testing/within.ts";

const ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);
const AUTH = { authorization: `Bearer ${PROCESS_API_TOKEN}` };

/** `POST /api/calls`; resolves to its status and body. */
async function placeCall(
  port: number,
  body: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${port}/api/calls`, {
    method: "POST",
    headers: { ...AUTH, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

async function getRecord(port: number, callSid: string): Promise<Record<string, unknown>> {
  const response = await fetch(`http://127.0.0.1:${port}/api/calls/${callSid}`, { headers: AUTH });
  assert.equal(response.status, 200, `the record of ${callSid}`);
  return await response.json();
}

/** Twilio's status callback for `callSid` at `url` (as the call was placed with), signed; resolves once handled. */
async function postStatus(port: number, url: string, callSid: string, status: string): Promise<void> {
  const form = { CallSid: callSid, CallStatus: status, AccountSid: ACCOUNT_SID };
  const path = url.slice(PROCESS_PUBLIC_BASE_URL.length);
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "X-Twilio-Signature": getExpectedTwilioSignature(PROCESS_AUTH_TOKEN, url, form),
    },
    body: new URLSearchParams(form),
  });
  await response.body?.cancel();
  assert.equal(response.status, 204, `the status callback answered ${response.status}`);
}

Deno.test("a restart while placed calls ring takes them up: the answered one connects with its persona, the other ends by Twilio's status", async () => {
  const upstream = FakeRealtimeServer.start();
  const rest: FakeTwilioRest = startFakeTwilioRest({
    accountSid: ACCOUNT_SID,
    authToken: PROCESS_AUTH_TOKEN,
  });
  const dataDir = await Deno.makeTempDir();
  const env = processEnv({ upstreamUrl: upstream.url, dataDir }, {
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_PHONE_NUMBER: "+14155550199",
    TWILIO_API_BASE_URL: rest.baseUrl,
    INSTANCE_ID: "ringing-restart",
    MAX_CONCURRENT_CALLS: "2",
  });
  let parley: ParleyProcess | undefined;
  try {
    // The first run places two calls, which ring; then it is killed.
    parley = await spawnParley("start", env);
    let port = await listeningPort(parley);
    const answered = await placeCall(port, {
      to: "+14155550123",
      persona: "tester",
      parameters: { lead: "Dana" },
    });
    assert.equal(answered.status, 201, JSON.stringify(answered.body));
    const unanswered = await placeCall(port, { to: "+14155550124", persona: "tester" });
    assert.equal(unanswered.status, 201, JSON.stringify(unanswered.body));
    const answeredSid = String(answered.body.callSid);
    const unansweredSid = String(unanswered.body.callSid);
    const placedWith = (to: string) =>
      rest.waitForRequest((r) =>
        r.method === "POST" && r.path.endsWith("/Calls.json") && r.form.get("To") === to
      );
    const answeredRequest = await placedWith("+14155550123");
    const unansweredRequest = await placedWith("+14155550124");
    // Each record is written (a read writes what is queued for the call) before the kill.
    assert.equal((await getRecord(port, answeredSid)).endedAt, null);
    assert.equal((await getRecord(port, unansweredSid)).endedAt, null);
    await reap(parley);

    // The next run (listening once its start-up clean-up is done) takes both up.
    parley = await spawnParley("start", env);
    port = await listeningPort(parley);

    // The callee answers: Twilio fetches the URL the call was placed with.
    const url = new URL(answeredRequest.form.get("Url")!);
    assert.equal(url.origin, PROCESS_PUBLIC_BASE_URL);
    const webhook = await postVoiceWebhook(
      { port, ...PROCESS_TARGET },
      answeredSid,
      `${url.pathname}${url.search}`,
    );
    assert.equal(webhook.status, 200);
    assert.ok(webhook.streamUrl !== undefined, `a stream, not a hang-up: ${webhook.twiml}`);
    assert.match(webhook.twiml, /<Parameter name="persona" value="tester"\s*\/>/);
    assert.match(webhook.twiml, /<Parameter name="lead" value="Dana"\s*\/>/);

    // Neither record was closed.
    for (const callSid of [answeredSid, unansweredSid]) {
      const record = await getRecord(port, callSid);
      assert.equal(record.endedAt, null, `${callSid} still open: ${record.endReason} (${record.endDetail})`);
    }

    // Both hold their slot (MAX_CONCURRENT_CALLS=2): a third call is not placed.
    const third = await placeCall(port, { to: "+14155550125", persona: "tester" });
    assert.equal(third.status, 503, JSON.stringify(third.body));
    assert.match(String(third.body.error), /MAX_CONCURRENT_CALLS=2/);

    // The call runs on the persona it was placed with.
    const call = await connectStream({ port, ...PROCESS_TARGET }, webhook.streamUrl!, answeredSid);
    call.start({ persona: "tester", lead: "Dana" });
    await within(parley.stdout.waitFor(new RegExp(`Stream started: CallSid=${answeredSid}`)), "the stream");
    const running = await getRecord(port, answeredSid);
    assert.notEqual(running.startedAt, null);
    assert.equal(running.persona, "tester");
    assert.equal(running.direction, "outbound-api");
    assert.equal((running.parameters as Record<string, string>).lead, "Dana");

    // The other one is not answered: Twilio's final status ends it as it would have without the restart.
    await postStatus(port, unansweredRequest.form.get("StatusCallback")!, unansweredSid, "no-answer");
    const ended = await within(
      parley.stderr.waitFor(new RegExp(`CallSid=${unansweredSid} reason=never_connected`)),
      "the unanswered call's end",
    );
    assert.match(ended, /Twilio reports the call no-answer before any media stream/);
    const record = await getRecord(port, unansweredSid);
    assert.equal(record.endReason, "never_connected");
    assert.equal(record.status, "no-answer");

    // One start-up line names the calls taken up; none was closed.
    const line = await within(parley.stderr.waitFor(/Took up \d+ ringing call/), "the take-up line");
    assert.match(line, /Took up 2 ringing call\(s\) the previous run placed/);
    assert.ok(line.includes(answeredSid) && line.includes(unansweredSid), line);
    assert.ok(
      !parley.stderr.lines.some((l) => /Closed \d+ call record\(s\) the previous run left open/.test(l)),
      parley.stderr.lines.join("\n"),
    );

    call.stop();
    await within(
      parley.stdout.waitFor(new RegExp(`CallSid=${answeredSid}.*reason=caller_hung_up`)),
      "the end",
    );
  } finally {
    if (parley !== undefined) await reap(parley);
    await upstream.close();
    await rest.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});
