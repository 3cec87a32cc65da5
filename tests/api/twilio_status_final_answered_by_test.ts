/**
 * A final status callback that also carries `AnsweredBy` (Twilio adds it to the status callbacks of a
 * call placed with answering-machine detection): the final status is recorded, the machine answer too
 * (once per call, just before it), and no voicemail is asked for on a call that is over. An
 * answering-machine result on a call not over yet still becomes `machine-detected` and reaches the relay.
 */
import assert from "node:assert/strict";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { type CallEvent } from "../../src/calls/call_events.ts";
import { CallHub } from "../../src/calls/call_hub.ts";
import { createTwilioStatusHandler } from "../../src/api/twilio_status.ts";
import { createLogger } from "../../src/log.ts";
import { routeSubset } from "../../testing/route_subset.ts";

const AUTH = "twilio-auth-token-0123456789abcd";
const PUBLIC = "https://parley.ngrok.app";
const CALL = "CA" + "0123456789abcdef".repeat(2);

/** The status route behind the route table's `twilio` guard, with what it emits and hands the relay. */
function setup() {
  const hub = new CallHub();
  const events: CallEvent[] = [];
  hub.subscribe((e) => events.push(e));
  const lines: string[] = [];
  const log = createLogger({ sink: (_level, line) => lines.push(line) });
  const answered: string[] = [];
  const status = createTwilioStatusHandler({
    hub,
    log,
    now: () => 42,
    onAnsweredBy: (callSid, answeredBy) => answered.push(`${callSid} ${answeredBy}`),
  });
  const route = routeSubset({ twilioStatus: status }, {
    twilioAuthToken: AUTH,
    publicBaseUrl: PUBLIC,
    twilioSignatureCheck: true,
    log,
  });
  const post = async (params: Record<string, string>) => {
    const response = await route(callback({ CallSid: CALL, ...params }));
    assert.equal(response.status, 204);
  };
  const statuses = () => events.map((e) => e.type === "call.status" ? `${e.status}: ${e.detail}` : e.type);
  return { post, statuses, status, answered, lines };
}

/** A callback as Twilio sends it through ngrok, signed. */
function callback(params: Record<string, string>): Request {
  const signature = getExpectedTwilioSignature(AUTH, `${PUBLIC}/api/twilio/status`, params);
  return new Request("http://localhost:4000/api/twilio/status", {
    method: "POST",
    headers: {
      host: "parley.ngrok.app",
      "content-type": "application/x-www-form-urlencoded",
      "x-twilio-signature": signature,
    },
    body: new URLSearchParams(params).toString(),
  });
}

Deno.test("a final callback carrying a machine answer records it, then the final status", async () => {
  const { post, statuses, status, answered, lines } = setup();
  await post({
    CallStatus: "completed",
    CallDuration: "31",
    AnsweredBy: "machine_end_beep",
    SequenceNumber: "3",
  });
  assert.deepEqual(statuses(), [
    "machine-detected: AnsweredBy=machine_end_beep",
    "completed: CallStatus=completed AnsweredBy=machine_end_beep CallDuration=31",
  ]);
  assert.equal(status.latestStatus(CALL)?.status, "completed");
  assert.deepEqual(answered, [], "the call is over: no voicemail is asked for");
  assert.ok(
    lines.some((line) =>
      line.endsWith(`CallSid=${CALL} completed (AnsweredBy=machine_end_beep CallDuration=31)`)
    ),
  );
});

Deno.test("a final callback repeating a machine answer already recorded adds only the final status", async () => {
  const { post, statuses, status, answered } = setup();
  await post({ AnsweredBy: "machine_end_beep", MachineDetectionDuration: "2100" });
  assert.deepEqual(answered, [`${CALL} machine_end_beep`], "the relay hears the machine: the voicemail");
  await post({
    CallStatus: "completed",
    CallDuration: "25",
    AnsweredBy: "machine_end_beep",
    SequenceNumber: "3",
  });
  // Twilio retrying the final callback changes nothing more for the machine answer.
  await post({
    CallStatus: "completed",
    CallDuration: "25",
    AnsweredBy: "machine_end_beep",
    SequenceNumber: "3",
  });
  assert.deepEqual(statuses(), [
    "machine-detected: AnsweredBy=machine_end_beep",
    "completed: CallStatus=completed AnsweredBy=machine_end_beep CallDuration=25",
    "completed: CallStatus=completed AnsweredBy=machine_end_beep CallDuration=25",
  ]);
  assert.equal(status.latestStatus(CALL)?.status, "completed");
  assert.deepEqual(answered, [`${CALL} machine_end_beep`], "only the first result reached the relay");
});

Deno.test("each final status wins over the machine answer it carries", async (t) => {
  for (const final of ["completed", "busy", "no-answer", "failed", "canceled"]) {
    await t.step(final, async () => {
      const { post, statuses, status, answered } = setup();
      await post({ CallStatus: final, AnsweredBy: "fax" });
      assert.deepEqual(statuses(), [
        "machine-detected: AnsweredBy=fax",
        `${final}: CallStatus=${final} AnsweredBy=fax`,
      ]);
      assert.equal(status.latestStatus(CALL)?.status, final);
      assert.deepEqual(answered, []);
    });
  }
});

Deno.test("a final callback carrying AnsweredBy=human is only its final status", async () => {
  const { post, statuses, status, answered } = setup();
  await post({ CallStatus: "completed", CallDuration: "60", AnsweredBy: "human" });
  assert.deepEqual(statuses(), ["completed: CallStatus=completed AnsweredBy=human CallDuration=60"]);
  assert.equal(status.latestStatus(CALL)?.status, "completed");
  assert.deepEqual(answered, [], "the call is over: nothing to tell the relay");
});

Deno.test("a machine answer on a call not over yet is machine-detected and reaches the relay, as before", async () => {
  const { post, statuses, status, answered } = setup();
  await post({ CallStatus: "in-progress", AnsweredBy: "machine_start", SequenceNumber: "2" });
  await post({ AnsweredBy: "machine_end_other" });
  assert.deepEqual(statuses(), [
    "machine-detected: CallStatus=in-progress AnsweredBy=machine_start",
    "machine-detected: AnsweredBy=machine_end_other",
  ]);
  assert.equal(status.latestStatus(CALL)?.status, "machine-detected");
  assert.deepEqual(answered, [`${CALL} machine_start`, `${CALL} machine_end_other`]);
});
