import assert from "node:assert/strict";
import { createTwilioRestClient, TwilioRestError } from "../../src/twilio/rest_client.ts";
import { startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";

const SID = "AC" + "0123456789abcdef".repeat(2);
const TOKEN = "secret-auth-token-0123456789abcd";
const NUMBER_SID = "PN" + "f".repeat(32);

Deno.test("createCall posts Twilio's form fields with Basic auth", async () => {
  await using twilio = startFakeTwilioRest({ accountSid: SID, authToken: TOKEN });
  const client = createTwilioRestClient({ accountSid: SID, authToken: TOKEN, baseUrl: twilio.baseUrl });
  const call = await client.createCall({
    to: "+14155550100",
    from: "+14155550199",
    url: "https://parley.example/api/twilio/voice-realtime?persona=alex",
    statusCallback: "https://parley.example/api/twilio/status",
    statusCallbackEvent: ["initiated", "ringing", "answered", "completed"],
    machineDetection: "DetectMessageEnd",
    asyncAmd: true,
    asyncAmdStatusCallback: "https://parley.example/api/twilio/status",
  });
  assert.equal(call.sid, "CA" + "1".padStart(32, "0"));
  assert.equal(call.status, "queued");

  assert.equal(twilio.requests.length, 1);
  const req = twilio.requests[0]!;
  assert.equal(req.method, "POST");
  assert.equal(req.path, `/2010-04-01/Accounts/${SID}/Calls.json`);
  assert.equal(req.authorization, `Basic ${btoa(`${SID}:${TOKEN}`)}`);
  assert.equal(req.contentType, "application/x-www-form-urlencoded");
  assert.equal(req.form.get("To"), "+14155550100");
  assert.equal(req.form.get("From"), "+14155550199");
  assert.equal(req.form.get("Url"), "https://parley.example/api/twilio/voice-realtime?persona=alex");
  assert.equal(req.form.get("Method"), "POST");
  assert.equal(req.form.get("StatusCallback"), "https://parley.example/api/twilio/status");
  assert.equal(req.form.get("StatusCallbackMethod"), "POST");
  assert.deepEqual(req.form.getAll("StatusCallbackEvent"), ["initiated", "ringing", "answered", "completed"]);
  assert.equal(req.form.get("MachineDetection"), "DetectMessageEnd");
  assert.equal(req.form.get("AsyncAmd"), "true");
  assert.equal(req.form.get("AsyncAmdStatusCallback"), "https://parley.example/api/twilio/status");
  assert.equal(req.form.get("AsyncAmdStatusCallbackMethod"), "POST");
});

Deno.test("createCall sends no detection fields when none are asked", async () => {
  await using twilio = startFakeTwilioRest({ accountSid: SID, authToken: TOKEN });
  const client = createTwilioRestClient({ accountSid: SID, authToken: TOKEN, baseUrl: twilio.baseUrl });
  await client.createCall({ to: "+14155550100", from: "+14155550199", url: "https://parley.example/v" });
  const form = twilio.requests[0]!.form;
  assert.deepEqual([...form.keys()].sort(), ["From", "Method", "To", "Url"]);
});

Deno.test("TwilioRestError carries Twilio's status, code and message", async (t) => {
  await using twilio = startFakeTwilioRest({ accountSid: SID, authToken: TOKEN });
  const client = createTwilioRestClient({ accountSid: SID, authToken: TOKEN, baseUrl: twilio.baseUrl });

  await t.step("for a refused call", async () => {
    twilio.failNext(400, {
      code: 21211,
      message: "The 'To' number +1555 is not a valid phone number.",
      more_info: "https://www.twilio.com/docs/errors/21211",
      status: 400,
    });
    const error = await client.createCall({ to: "+1555", from: "+14155550199", url: "https://x.example/" })
      .then(
        () => assert.fail("createCall should have thrown"),
        (e: unknown) => e,
      );
    assert.ok(error instanceof TwilioRestError);
    assert.equal(error.status, 400);
    assert.equal(error.code, 21211);
    assert.equal(error.message, "The 'To' number +1555 is not a valid phone number.");
    assert.equal(error.moreInfo, "https://www.twilio.com/docs/errors/21211");
  });

  await t.step("for wrong credentials, without printing the token", async () => {
    const wrong = createTwilioRestClient({
      accountSid: SID,
      authToken: "wrong-token-1234",
      baseUrl: twilio.baseUrl,
    });
    await assert.rejects(wrong.findIncomingNumber("+14155550199"), (error: unknown) => {
      assert.ok(error instanceof TwilioRestError);
      assert.equal(error.status, 401);
      assert.equal(error.code, 20003);
      assert.ok(!error.message.includes("wrong-token-1234"));
      return true;
    });
  });

  await t.step("for a non-JSON error page", async () => {
    twilio.failNext(502, "<html>Bad gateway</html>");
    await assert.rejects(
      client.findIncomingNumber("+14155550199"),
      (error: unknown) =>
        error instanceof TwilioRestError && error.status === 502 && error.code === undefined,
    );
  });
});

Deno.test("an unreachable Twilio is a TwilioRestError naming the base URL", async () => {
  const closed = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response());
  const baseUrl = `http://127.0.0.1:${closed.addr.port}`;
  await closed.shutdown();
  const client = createTwilioRestClient({ accountSid: SID, authToken: TOKEN, baseUrl });
  await assert.rejects(
    client.createCall({ to: "+14155550100", from: "+14155550199", url: "https://x/" }),
    (e) => {
      assert.ok(e instanceof TwilioRestError);
      assert.equal(e.status, undefined);
      assert.match(e.message, new RegExp(`^Cannot reach Twilio at ${baseUrl}`));
      assert.ok(!e.message.includes(TOKEN));
      return true;
    },
  );
});

Deno.test("a Twilio that does not answer in time is a TwilioRestError", async () => {
  const { promise: release, resolve } = Promise.withResolvers<void>();
  await using slow = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
    await release;
    return new Response("{}");
  });
  const client = createTwilioRestClient({
    accountSid: SID,
    authToken: TOKEN,
    baseUrl: `http://127.0.0.1:${slow.addr.port}`,
    timeoutMs: 50,
  });
  try {
    await assert.rejects(
      client.findIncomingNumber("+14155550199"),
      (e) => e instanceof TwilioRestError && /no answer within 0\.05 s/.test(e.message),
    );
  } finally {
    resolve();
  }
});

Deno.test("findIncomingNumber and updateIncomingNumberVoiceUrl use the number resources", async () => {
  await using twilio = startFakeTwilioRest({
    accountSid: SID,
    authToken: TOKEN,
    numbers: [{
      sid: NUMBER_SID,
      phoneNumber: "+14155550199",
      voiceUrl: "https://old.example/voice",
      voiceMethod: "GET",
    }],
  });
  const client = createTwilioRestClient({ accountSid: SID, authToken: TOKEN, baseUrl: twilio.baseUrl });

  assert.equal(await client.findIncomingNumber("+14155550100"), undefined);
  const found = await client.findIncomingNumber("+14155550199");
  assert.deepEqual(found, {
    sid: NUMBER_SID,
    phoneNumber: "+14155550199",
    voiceUrl: "https://old.example/voice",
    voiceMethod: "GET",
  });
  assert.equal(twilio.requests[1]!.method, "GET");
  assert.equal(twilio.requests[1]!.path, `/2010-04-01/Accounts/${SID}/IncomingPhoneNumbers.json`);
  assert.equal(twilio.requests[1]!.query.get("PhoneNumber"), "+14155550199");

  const updated = await client.updateIncomingNumberVoiceUrl(
    NUMBER_SID,
    "https://new.example/api/twilio/voice-realtime",
  );
  assert.equal(updated.voiceUrl, "https://new.example/api/twilio/voice-realtime");
  assert.equal(updated.voiceMethod, "POST");
  const update = twilio.requests[2]!;
  assert.equal(update.path, `/2010-04-01/Accounts/${SID}/IncomingPhoneNumbers/${NUMBER_SID}.json`);
  assert.equal(update.form.get("VoiceUrl"), "https://new.example/api/twilio/voice-realtime");
  assert.equal(update.form.get("VoiceMethod"), "POST");
});

Deno.test("getCall reads a call's status now, and answers undefined for a call Twilio does not have (404)", async () => {
  await using twilio = startFakeTwilioRest({ accountSid: SID, authToken: TOKEN });
  const client = createTwilioRestClient({ accountSid: SID, authToken: TOKEN, baseUrl: twilio.baseUrl });
  const { sid } = await client.createCall({ to: "+14155550100", from: "+14155550199", url: "https://x/" });
  twilio.setCallStatus(sid, "busy");
  const call = await client.getCall(sid);
  assert.equal(call?.sid, sid);
  assert.equal(call?.status, "busy");
  assert.equal(call?.to, "+14155550100");
  assert.equal(await client.getCall("CA" + "9".repeat(32)), undefined);
  const get = twilio.requests.at(-1)!;
  assert.equal(get.method, "GET");
  assert.equal(get.path, `/2010-04-01/Accounts/${SID}/Calls/CA${"9".repeat(32)}.json`);
});
