import assert from "node:assert/strict";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { type CallEvent } from "../../src/calls/call_events.ts";
import { CallHub } from "../../src/calls/call_hub.ts";
import { createTwilioStatusHandler, type TwilioStatusConfig } from "../../src/api/twilio_status.ts";
import { createLogger, type LogLevel } from "../../src/log.ts";
import { routeSubset } from "../../testing/route_subset.ts";

const AUTH = "twilio-auth-token-0123456789abcd";
const PUBLIC = "https://parley.ngrok.app";
const CALL = "CA" + "0123456789abcdef".repeat(2);
const OTHER = "CA" + "f".repeat(32);

function setup(overrides: Partial<TwilioStatusConfig> = {}, maxTrackedCalls?: number) {
  const config: TwilioStatusConfig = {
    twilioAuthToken: AUTH,
    publicBaseUrl: PUBLIC,
    twilioSignatureCheck: true,
    ...overrides,
  };
  const hub = new CallHub();
  const events: CallEvent[] = [];
  hub.subscribe((e) => events.push(e));
  const lines: [LogLevel, string][] = [];
  const log = createLogger({ sink: (level, line) => lines.push([level, line]) });
  const status = createTwilioStatusHandler({
    hub,
    log,
    now: () => 42,
    ...(maxTrackedCalls === undefined ? {} : { maxTrackedCalls }),
  });
  // Through the route table's row: the `twilio` guard reads the form and checks the signature.
  const route = routeSubset({ twilioStatus: status }, {
    twilioAuthToken: config.twilioAuthToken,
    publicBaseUrl: config.publicBaseUrl,
    twilioSignatureCheck: config.twilioSignatureCheck,
    log,
  });
  const handler = Object.assign(route, { latestStatus: status.latestStatus });
  return { handler, events, lines };
}

/** A callback as Twilio sends it through ngrok, signed with `token`. */
function callback(params: Record<string, string>, token = AUTH): Request {
  const signature = getExpectedTwilioSignature(token, `${PUBLIC}/api/twilio/status`, params);
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

Deno.test("status callbacks become call.status events, log lines and the latest status", async () => {
  const { handler, events, lines } = setup();
  const steps: [Record<string, string>, string][] = [
    [{ CallStatus: "initiated", SequenceNumber: "0" }, "initiated"],
    [{ CallStatus: "ringing", SequenceNumber: "1" }, "ringing"],
    [{ CallStatus: "in-progress", SequenceNumber: "2" }, "answered"],
    [{ CallStatus: "completed", SequenceNumber: "3", CallDuration: "42" }, "completed"],
  ];
  for (const [params, status] of steps) {
    const response = await handler(callback({ CallSid: CALL, AccountSid: "AC" + "1".repeat(32), ...params }));
    assert.equal(response.status, 204);
    assert.equal(await response.text(), "");
    assert.equal(handler.latestStatus(CALL)?.status, status);
  }
  assert.deepEqual(events.map((e) => e.type === "call.status" ? e.status : e.type), [
    "initiated",
    "ringing",
    "answered",
    "completed",
  ]);
  assert.deepEqual(events[3], {
    type: "call.status",
    at: 42,
    callSid: CALL,
    status: "completed",
    detail: "CallStatus=completed CallDuration=42",
  });
  assert.ok(
    lines.some(([level, line]) =>
      level === "info" && line === `[Realtime] Call status: CallSid=${CALL} ringing`
    ),
  );
});

Deno.test("status callback reports busy, no-answer, failed and canceled", async (t) => {
  for (const status of ["busy", "no-answer", "failed", "canceled"]) {
    await t.step(status, async () => {
      const { handler, events } = setup();
      assert.equal((await handler(callback({ CallSid: CALL, CallStatus: status }))).status, 204);
      assert.equal(handler.latestStatus(CALL)?.status, status);
      assert.equal(events.length, 1);
    });
  }
});

Deno.test("an answering machine result becomes machine-detected", async () => {
  const { handler, events, lines } = setup();
  const response = await handler(
    callback({ CallSid: CALL, AnsweredBy: "machine_end_beep", MachineDetectionDuration: "2100" }),
  );
  assert.equal(response.status, 204);
  assert.deepEqual(handler.latestStatus(CALL), {
    status: "machine-detected",
    detail: "AnsweredBy=machine_end_beep",
    at: 42,
    sequence: undefined,
  });
  assert.equal(events[0]?.type === "call.status" && events[0].status, "machine-detected");
  assert.ok(
    lines.some(([, line]) => line.includes(`CallSid=${CALL} machine-detected (AnsweredBy=machine_end_beep)`)),
  );
});

Deno.test("a human answer is logged but not recorded as a status", async () => {
  const { handler, events, lines } = setup();
  assert.equal((await handler(callback({ CallSid: CALL, AnsweredBy: "human" }))).status, 204);
  assert.equal(handler.latestStatus(CALL), undefined);
  assert.equal(events.length, 0);
  assert.ok(lines.some(([, line]) => line.includes("answered by human")));
});

Deno.test("a late callback does not replace a newer status", async () => {
  const { handler, events } = setup();
  await handler(callback({ CallSid: CALL, CallStatus: "completed", SequenceNumber: "3" }));
  await handler(callback({ CallSid: CALL, CallStatus: "ringing", SequenceNumber: "1" }));
  assert.equal(handler.latestStatus(CALL)?.status, "completed");
  assert.equal(events.length, 2, "the late event is still emitted");
});

Deno.test("the latest-status map is bounded, forgetting the oldest call", async () => {
  const { handler } = setup({}, 1);
  await handler(callback({ CallSid: CALL, CallStatus: "ringing" }));
  await handler(callback({ CallSid: OTHER, CallStatus: "ringing" }));
  assert.equal(handler.latestStatus(CALL), undefined);
  assert.equal(handler.latestStatus(OTHER)?.status, "ringing");
});

Deno.test("status callback refuses unsigned and misplaced requests", async (t) => {
  await t.step("wrong token is 403 and logs the reason", async () => {
    const { handler, events, lines } = setup();
    const response = await handler(
      callback({ CallSid: CALL, CallStatus: "ringing" }, "someone-elses-token-000000000000"),
    );
    assert.equal(response.status, 403);
    await response.body?.cancel();
    assert.equal(events.length, 0);
    assert.equal(handler.latestStatus(CALL), undefined);
    assert.ok(lines.some(([level, line]) => level === "warn" && line.includes("check TWILIO_AUTH_TOKEN")));
  });

  await t.step("missing header is 403", async () => {
    const { handler, lines } = setup();
    const req = callback({ CallSid: CALL, CallStatus: "ringing" });
    req.headers.delete("x-twilio-signature");
    const response = await handler(req);
    assert.equal(response.status, 403);
    await response.body?.cancel();
    assert.ok(lines.some(([, line]) => line.includes("missing signature (no X-Twilio-Signature header)")));
  });

  await t.step("no TWILIO_AUTH_TOKEN is 403", async () => {
    const { handler } = setup({ twilioAuthToken: undefined });
    const response = await handler(callback({ CallSid: CALL, CallStatus: "ringing" }));
    assert.equal(response.status, 403);
    await response.body?.cancel();
  });

  await t.step("signature check off accepts an unsigned callback", async () => {
    const { handler } = setup({ twilioSignatureCheck: false });
    const req = callback({ CallSid: CALL, CallStatus: "ringing" });
    req.headers.delete("x-twilio-signature");
    assert.equal((await handler(req)).status, 204);
    assert.equal(handler.latestStatus(CALL)?.status, "ringing");
  });

  await t.step("missing CallSid is 400", async () => {
    const { handler } = setup();
    const response = await handler(callback({ CallStatus: "ringing" }));
    assert.equal(response.status, 400);
    await response.body?.cancel();
  });

  await t.step("GET is 405", async () => {
    const { handler } = setup();
    const response = await handler(new Request("http://localhost:4000/api/twilio/status"));
    assert.equal(response.status, 405);
    await response.body?.cancel();
  });

  await t.step("a body over 64 KiB is 413", async () => {
    const { handler } = setup();
    const response = await handler(
      callback({ CallSid: CALL, CallStatus: "ringing", Junk: "x".repeat(70_000) }),
    );
    assert.equal(response.status, 413);
    await response.body?.cancel();
  });
});
