import assert from "node:assert/strict";
import { type CallEvent } from "../../src/calls/call_events.ts";
import { CallHub } from "../../src/calls/call_hub.ts";
import { createPlaceCallHandler, type PlaceCallConfig } from "../../src/api/place_call.ts";
import { createLogger } from "../../src/log.ts";
import { type FakeTwilioRest, startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";
import { routeSubset } from "../../testing/route_subset.ts";

const ACCOUNT = "AC" + "0123456789abcdef".repeat(2);
const AUTH = "twilio-auth-token-0123456789abcd";
const API_TOKEN = "parley-api-token-0123456789abcdef";
const FROM = "+14155550199";
const PUBLIC = "https://parley.ngrok.app";

function setup(twilio: FakeTwilioRest, overrides: Partial<PlaceCallConfig> = {}) {
  const config: PlaceCallConfig = {
    apiToken: API_TOKEN,
    twilioAccountSid: ACCOUNT,
    twilioAuthToken: AUTH,
    twilioPhoneNumber: FROM,
    twilioApiBaseUrl: twilio.baseUrl,
    publicBaseUrl: PUBLIC,
    ...overrides,
  };
  const hub = new CallHub();
  const events: CallEvent[] = [];
  hub.subscribe((e) => events.push(e));
  const lines: string[] = [];
  const log = createLogger({ sink: (_level, line) => lines.push(line), secrets: [AUTH, API_TOKEN] });
  // Through the route table's row for POST /api/calls: its guard and body limit, as the server runs it.
  const handler = routeSubset({
    placeCall: createPlaceCallHandler({
      config,
      hub,
      log,
      personaIds: () => ["alex", "sam"],
      defaultPersona: "alex",
      now: () => 1_700_000_000_000,
    }),
  }, { apiToken: config.apiToken });
  return { handler, events, lines };
}

function post(body: unknown, headers: Record<string, string> = {}): Request {
  return new Request("http://localhost:4000/api/calls", {
    method: "POST",
    headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function errorOf(response: Response, status: number): Promise<string> {
  const body = await response.json();
  assert.equal(
    response.status,
    status,
    `expected ${status}, got ${response.status}: ${JSON.stringify(body)}`,
  );
  assert.equal(typeof body.error, "string");
  return body.error;
}

Deno.test("POST /api/calls places the call and answers 201", async () => {
  await using twilio = startFakeTwilioRest({ accountSid: ACCOUNT, authToken: AUTH });
  const { handler, events, lines } = setup(twilio);
  const response = await handler(post({
    to: "+14155550100",
    persona: "sam",
    parameters: { leadName: "Ada Lovelace", company: "Analytical & Co" },
    machineDetection: "Enable",
  }));

  assert.equal(response.status, 201);
  const body = await response.json();
  assert.deepEqual(body, { callSid: "CA" + "1".padStart(32, "0"), persona: "sam" });

  assert.equal(twilio.requests.length, 1);
  const req = twilio.requests[0]!;
  assert.equal(req.authorization, `Basic ${btoa(`${ACCOUNT}:${AUTH}`)}`);
  assert.equal(req.form.get("To"), "+14155550100");
  assert.equal(req.form.get("From"), FROM);
  const url = new URL(req.form.get("Url")!);
  assert.equal(`${url.origin}${url.pathname}`, `${PUBLIC}/api/twilio/voice-realtime`);
  assert.deepEqual([...url.searchParams], [["persona", "sam"], ["leadName", "Ada Lovelace"], [
    "company",
    "Analytical & Co",
  ]]);
  assert.equal(req.form.get("Method"), "POST");
  assert.equal(req.form.get("StatusCallback"), `${PUBLIC}/api/twilio/status`);
  assert.deepEqual(req.form.getAll("StatusCallbackEvent"), ["initiated", "ringing", "answered", "completed"]);
  assert.equal(req.form.get("MachineDetection"), "Enable");
  assert.equal(req.form.get("AsyncAmd"), "true");
  assert.equal(req.form.get("AsyncAmdStatusCallback"), `${PUBLIC}/api/twilio/status`);

  assert.deepEqual(events, [{
    type: "call.placed",
    at: 1_700_000_000_000,
    callSid: body.callSid,
    persona: "sam",
    from: FROM,
    to: "+14155550100",
    parameters: { leadName: "Ada Lovelace", company: "Analytical & Co" },
  }]);
  assert.ok(lines.some((l) => l.includes(`Outbound call placed: CallSid=${body.callSid}`)));
});

Deno.test("POST /api/calls uses the default persona and no detection unless asked", async () => {
  await using twilio = startFakeTwilioRest({ accountSid: ACCOUNT, authToken: AUTH });
  const { handler } = setup(twilio);
  const response = await handler(post({ to: "+14155550100" }));
  assert.equal(response.status, 201);
  assert.equal((await response.json()).persona, "alex");
  const form = twilio.requests[0]!.form;
  assert.equal(form.get("Url"), `${PUBLIC}/api/twilio/voice-realtime?persona=alex`);
  assert.equal(form.has("MachineDetection"), false);
  assert.equal(form.has("AsyncAmd"), false);
});

Deno.test("POST /api/calls refuses a missing or wrong token with 401", async (t) => {
  await using twilio = startFakeTwilioRest({ accountSid: ACCOUNT, authToken: AUTH });
  const { handler } = setup(twilio);
  const cases: [string, Record<string, string>, RegExp][] = [
    ["missing", { authorization: "" }, /Missing Authorization header/],
    ["wrong", { authorization: `Bearer ${API_TOKEN}x` }, /Wrong bearer token/],
    ["not bearer", { authorization: `Basic ${btoa(`x:${API_TOKEN}`)}` }, /Wrong bearer token/],
  ];
  for (const [name, headers, message] of cases) {
    await t.step(name, async () => {
      const req = post({ to: "+14155550100" }, headers);
      if (headers.authorization === "") req.headers.delete("authorization");
      const response = await handler(req);
      assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="parley"');
      assert.match(await errorOf(response, 401), message);
    });
  }
  assert.equal(twilio.requests.length, 0);
});

Deno.test("POST /api/calls refuses bad requests with 400 naming the field", async (t) => {
  await using twilio = startFakeTwilioRest({ accountSid: ACCOUNT, authToken: AUTH });
  const { handler, events } = setup(twilio);
  const cases: [string, unknown, RegExp][] = [
    ["malformed JSON", '{"to": "+1415', /^Request body is not valid JSON/],
    ["empty body", "", /^Request body is empty/],
    ["an array", ["+14155550100"], /^Request body must be a JSON object.*not an array/],
    ["a string", '"+14155550100"', /^Request body must be a JSON object/],
    ["missing to", { persona: "alex" }, /^Field "to" is required/],
    ["non-E.164 to", { to: "4155550100" }, /^Field "to": "4155550100" is not an E.164 number/],
    ["numeric to", { to: 14155550100 }, /^Field "to": number 14155550100 is not an E.164/],
    [
      "unknown persona",
      { to: "+14155550100", persona: "bob" },
      /^Field "persona": unknown persona "bob": known personas are alex, sam$/,
    ],
    ["non-string persona", { to: "+14155550100", persona: 3 }, /^Field "persona": number 3 is not a string/],
    [
      "parameters not an object",
      { to: "+14155550100", parameters: ["Ada"] },
      /^Field "parameters": must be an object/,
    ],
    [
      "non-string parameter",
      { to: "+14155550100", parameters: { leadName: "Ada", age: 36 } },
      /"age" is number 36, not a string/,
    ],
    [
      "unsafe parameter name",
      { to: "+14155550100", parameters: { "lead name": "Ada" } },
      /name "lead name" is not allowed/,
    ],
    [
      "long parameter name",
      { to: "+14155550100", parameters: { ["n".repeat(65)]: "x" } },
      /longer than 64 characters/,
    ],
    [
      "long parameter value",
      { to: "+14155550100", parameters: { notes: "x".repeat(500) } },
      /"notes" is 500 characters long: values must be under 500/,
    ],
    [
      "control characters",
      { to: "+14155550100", parameters: { notes: "a\u0000b" } },
      /"notes" contains control characters/,
    ],
    [
      "reserved parameter",
      { to: "+14155550100", parameters: { persona: "sam" } },
      /name "persona" is reserved/,
    ],
    ["too many parameters", {
      to: "+14155550100",
      parameters: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`p${i}`, "x"])),
    }, /21 parameters: at most 20/],
    [
      "bad machineDetection",
      { to: "+14155550100", machineDetection: "Yes" },
      /^Field "machineDetection": "Yes" is not one of Enable, DetectMessageEnd/,
    ],
    [
      "unknown field",
      { to: "+14155550100", from: "+1999" },
      /^Unknown field "from": allowed fields are to, persona, voice, parameters, machineDetection/,
    ],
    [
      "unknown field whose name has control characters and runs long",
      { to: "+14155550100", ["x\u001b[2J\ny" + "z".repeat(60)]: 1 },
      /^Unknown field "x\?\[2J\?yz{33}…": allowed fields/,
    ],
  ];
  for (const [name, body, message] of cases) {
    await t.step(name, async () => {
      assert.match(await errorOf(await handler(post(body)), 400), message);
    });
  }
  assert.equal(twilio.requests.length, 0, "no call may be placed for a bad request");
  assert.equal(events.length, 0);
});

Deno.test("POST /api/calls refuses other content types, methods and huge bodies", async (t) => {
  await using twilio = startFakeTwilioRest({ accountSid: ACCOUNT, authToken: AUTH });
  const { handler } = setup(twilio);
  await t.step("form body is 415", async () => {
    const req = post("to=%2B14155550100", { "content-type": "application/x-www-form-urlencoded" });
    assert.match(await errorOf(await handler(req), 415), /send Content-Type: application\/json/);
  });
  await t.step("GET is 405", async () => {
    const response = await handler(
      new Request("http://localhost/api/calls", { headers: { authorization: `Bearer ${API_TOKEN}` } }),
    );
    assert.equal(response.headers.get("allow"), "POST");
    await errorOf(response, 405);
  });
  await t.step("a body over 16 KiB is 413", async () => {
    const big = JSON.stringify({ to: "+14155550100", parameters: { a: "x".repeat(20_000) } });
    assert.match(await errorOf(await handler(post(big)), 413), /larger than 16384 bytes/);
  });
  assert.equal(twilio.requests.length, 0);
});

Deno.test("POST /api/calls answers 503 naming the missing settings", async (t) => {
  await using twilio = startFakeTwilioRest({ accountSid: ACCOUNT, authToken: AUTH });

  await t.step("API_TOKEN", async () => {
    const { handler } = setup(twilio, { apiToken: undefined });
    assert.match(
      await errorOf(await handler(post({ to: "+14155550100" })), 503),
      /API_TOKEN is not set: set API_TOKEN/,
    );
  });

  await t.step("Twilio settings", async () => {
    const { handler } = setup(twilio, { twilioAuthToken: undefined, twilioPhoneNumber: undefined });
    assert.equal(
      await errorOf(await handler(post({ to: "+14155550100" })), 503),
      "Outbound calls are not configured: set TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER in .env",
    );
  });

  await t.step("account and PUBLIC_BASE_URL", async () => {
    const { handler } = setup(twilio, { twilioAccountSid: undefined, publicBaseUrl: undefined });
    assert.match(
      await errorOf(await handler(post({ to: "+14155550100" })), 503),
      /set TWILIO_ACCOUNT_SID, PUBLIC_BASE_URL in/,
    );
  });
  assert.equal(twilio.requests.length, 0);
});

Deno.test("POST /api/calls answers 502 with Twilio's message and code", async (t) => {
  await using twilio = startFakeTwilioRest({ accountSid: ACCOUNT, authToken: AUTH });

  await t.step("Twilio refuses", async () => {
    const { handler, events, lines } = setup(twilio);
    twilio.failNext(400, {
      code: 21211,
      message: "The 'To' number +1555 is not a valid phone number.",
      status: 400,
    });
    const response = await handler(post({ to: "+15555555555" }));
    const body = await response.json();
    assert.equal(response.status, 502);
    assert.equal(
      body.error,
      "Twilio refused the call: The 'To' number +1555 is not a valid phone number. (code 21211)",
    );
    assert.equal(body.twilioCode, 21211);
    assert.equal(events.length, 0);
    assert.ok(lines.some((l) => l.includes("code 21211")));
  });

  await t.step("wrong credentials", async () => {
    const { handler } = setup(twilio, { twilioAuthToken: "not-the-token-0000000000000000000" });
    assert.match(
      await errorOf(await handler(post({ to: "+14155550100" })), 502),
      /Authenticate \(code 20003\)/,
    );
  });

  await t.step("Twilio unreachable", async () => {
    const closed = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response());
    const baseUrl = `http://127.0.0.1:${closed.addr.port}`;
    await closed.shutdown();
    const { handler } = setup(twilio, { twilioApiBaseUrl: baseUrl });
    assert.match(
      await errorOf(await handler(post({ to: "+14155550100" })), 502),
      new RegExp(`^Cannot reach Twilio at ${baseUrl}`),
    );
  });
});
