/**
 * Twilio's voice webhook and the other plain HTTP routes, through a real listener.
 */

import assert from "node:assert/strict";
import { startTestParley, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL } from "../testing/parley_harness.ts";
import { startFakeTwilioRest } from "../testing/fake_twilio_rest.ts";
import { within } from "../testing/within.ts";
import { type CallStore, openCallStore } from "../src/store/sqlite/call_store.ts";
import type { UsedStreamTokens } from "../src/twilio/stream_token.ts";

const ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);
const API_TOKEN = "voice-webhook-api-token-0123456789";

/** POSTs the webhook as Twilio would, signed over the public URL. */
async function postWebhook(
  t: Awaited<ReturnType<typeof startTestParley>>,
  pathAndQuery: string,
  form: Record<string, string>,
  sign = true,
): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (sign) Object.assign(headers, t.twilioHeaders(`${TEST_PUBLIC_BASE_URL}${pathAndQuery}`, form));
  return await fetch(`${t.origin}${pathAndQuery}`, {
    method: "POST",
    headers,
    body: new URLSearchParams(form),
  });
}

const twilioForm = {
  CallSid: "CA11111111111111111111111111111111",
  AccountSid: "AC00000000000000000000000000000000",
  From: "+14155550100",
  To: "+14155550199",
  Direction: "outbound-api",
  CallStatus: "in-progress",
};

Deno.test("voice webhook answers Connect/Stream TwiML carrying the persona and every query parameter", async () => {
  const t = await startTestParley();
  try {
    const response = await postWebhook(
      t,
      "/api/twilio/voice-realtime?persona=tester&lead=Dana&company=Acme%20%26%20Co",
      twilioForm,
    );
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type")!, /^text\/xml/);
    const twiml = await response.text();
    const token = twiml.match(/twilio-realtime-voice\/([^"]+)"/)?.[1] ?? "";
    assert.match(
      token,
      /^CA11111111111111111111111111111111\.[0-9a-z]+\.[\w-]{43}$/,
      "a per-call stream token",
    );
    assert.equal(
      twiml,
      '<?xml version="1.0" encoding="UTF-8"?><Response>' +
        '<Connect action="https://parley.test/api/twilio/after-stream?persona=tester" method="POST">' +
        `<Stream url="wss://parley.test/twilio-realtime-voice/${token}">` +
        '<Parameter name="persona" value="tester"/><Parameter name="lead" value="Dana"/>' +
        '<Parameter name="company" value="Acme &amp; Co"/>' +
        "</Stream></Connect>" +
        "</Response>",
    );
    const webhook = await t.waitForEvent("call.webhook");
    assert.deepEqual(
      { ...webhook, at: 0 },
      {
        type: "call.webhook",
        at: 0,
        callSid: twilioForm.CallSid,
        persona: "tester",
        direction: "outbound-api",
        from: "+14155550100",
        to: "+14155550199",
        parameters: { persona: "tester", lead: "Dana", company: "Acme & Co" },
      },
    );
  } finally {
    await t.close();
  }
});

Deno.test("voice webhook falls back to the default persona and its fallback message", async () => {
  const t = await startTestParley();
  try {
    const response = await postWebhook(t, "/api/twilio/voice-realtime?persona=nobody", twilioForm);
    const twiml = await response.text();
    assert.match(twiml, /<Parameter name="persona" value="tester"\/>/);
    assert.match(
      twiml,
      /<Connect action="https:\/\/parley\.test\/api\/twilio\/after-stream\?persona=tester"/,
    );
    // The fallback message moved to the <Connect action> answer.
    const after = await t.postTwilio("/api/twilio/after-stream?persona=tester", {
      CallSid: twilioForm.CallSid!,
    });
    assert.match(await after.text(), /<Response><Say>The tester is away\.<\/Say><\/Response>$/);
    assert.match(
      await t.waitForLog(/unknown persona/),
      /Voice webhook asked for unknown persona "nobody": using "tester"/,
    );

    const plain = await postWebhook(t, "/api/twilio/voice-realtime", {
      ...twilioForm,
      CallSid: "CA22222222222222222222222222222222",
    });
    assert.match(await plain.text(), /<Parameter name="persona" value="tester"\/>/);
  } finally {
    await t.close();
  }
});

Deno.test("a call Parley did not place gets INBOUND_PERSONA whatever Direction says; a named persona wins", async () => {
  const t = await startTestParley({ env: { DEFAULT_PERSONA: "tester", INBOUND_PERSONA: "quiet" } });
  try {
    let n = 0;
    const persona = async (query: string, direction: string) => {
      const response = await postWebhook(t, `/api/twilio/voice-realtime${query}`, {
        ...twilioForm,
        CallSid: `CA${String(++n).padStart(32, "0")}`,
        Direction: direction,
      });
      return /<Parameter name="persona" value="([^"]*)"\/>/.exec(await response.text())?.[1];
    };
    assert.equal(await persona("", "inbound"), "quiet");
    assert.equal(await persona("", "outbound-api"), "quiet", "Direction is not trusted");
    assert.equal(await persona("?persona=tester", "inbound"), "tester");
    assert.equal(await persona("?persona=nobody", "inbound"), "quiet");
  } finally {
    await t.close();
  }
});

Deno.test("a signed webhook re-split as Directio=ninbound keeps its signature and changes nothing", async () => {
  const t = await startTestParley({ env: { DEFAULT_PERSONA: "tester", INBOUND_PERSONA: "quiet" } });
  try {
    const path = "/api/twilio/voice-realtime";
    const answer = async (form: Record<string, string>, signedFor: Record<string, string>) => {
      const response = await fetch(`${t.origin}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          ...t.twilioHeaders(`${TEST_PUBLIC_BASE_URL}${path}`, signedFor),
        },
        body: new URLSearchParams(form),
      });
      assert.equal(response.status, 200, "the re-split form passes the signature check");
      return /<Parameter name="persona" value="([^"]*)"\/>/.exec(await response.text())?.[1];
    };
    const captured = { ...twilioForm, CallSid: "CA" + "a".repeat(32), Direction: "inbound" };
    // Twilio signs URL + sorted name+value pairs with no separator: both forms sign the same string.
    const { Direction: _, ...rest } = captured;
    const resplit = { ...rest, CallSid: "CA" + "b".repeat(32), Directio: "ninbound" };
    const resplitSignedAs = { ...rest, CallSid: resplit.CallSid, Direction: "inbound" };
    assert.equal(await answer(captured, captured), "quiet");
    assert.equal(await answer(resplit, resplitSignedAs), "quiet", "the re-split switched no persona");
  } finally {
    await t.close();
  }
});

Deno.test("a call placed through POST /api/calls gets the persona it was placed with", async () => {
  await using twilio = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  const t = await startTestParley({
    env: {
      DEFAULT_PERSONA: "tester",
      INBOUND_PERSONA: "quiet",
      API_TOKEN,
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_PHONE_NUMBER: "+14155550199",
      TWILIO_API_BASE_URL: twilio.baseUrl,
    },
  });
  try {
    const placed = await fetch(`${t.origin}/api/calls`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ to: "+14155550100", persona: "alex" }),
    });
    assert.equal(placed.status, 201);
    const { callSid } = await placed.json();
    // Whatever the form says, and even at a URL without ?persona=: Parley placed this call.
    const response = await postWebhook(t, "/api/twilio/voice-realtime", {
      ...twilioForm,
      CallSid: callSid,
      Direction: "inbound",
    });
    assert.match(await response.text(), /<Parameter name="persona" value="alex"\/>/);
    assert.equal((await t.waitForEvent("call.webhook")).direction, "outbound-api");
  } finally {
    await t.close();
  }
});

Deno.test("voice webhook drops parameters longer than Twilio allows, and says so", async () => {
  const t = await startTestParley();
  try {
    const long = "x".repeat(600);
    const response = await postWebhook(
      t,
      `/api/twilio/voice-realtime?persona=tester&note=${long}&lead=Dana`,
      twilioForm,
    );
    const twiml = await response.text();
    assert.ok(!twiml.includes(long));
    assert.match(twiml, /<Parameter name="lead" value="Dana"\/>/);
    assert.match(await t.waitForLog(/Dropped webhook parameters/), /: note$/);
  } finally {
    await t.close();
  }
});

Deno.test("bad webhook signatures are refused with 403, each diagnosis logged on its own line", async () => {
  const t = await startTestParley();
  try {
    const path = "/api/twilio/voice-realtime?persona=tester";
    const signed = t.twilioHeaders(`${TEST_PUBLIC_BASE_URL}${path}`, twilioForm);
    const send = async (headers: Record<string, string>) => {
      const response = await fetch(`${t.origin}${path}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        body: new URLSearchParams({ ...twilioForm, From: "+19995550000" }), // not what was signed
      });
      assert.equal(response.status, 403);
      await response.body?.cancel();
    };
    await send({}); // no signature at all
    await send(signed); // signed, wrong: through a tunnel that hides the public host
    await send({ ...signed, "x-forwarded-host": "old-tunnel.ngrok.app" }); // Twilio called another URL
    await send({ ...signed, "x-forwarded-host": "parley.test" }); // right URL, so another token
    await send({}); // the same diagnosis again within 5 s: suppressed

    const lines = t.logs.filter((l) => l.level === "warn" && / signature/.test(l.line)).map((l) => l.line);
    assert.equal(lines.length, 4, lines.join("\n"));
    assert.match(
      lines[0]!,
      /Refused \/api\/twilio\/voice-realtime: missing signature \(no X-Twilio-Signature/,
    );
    assert.match(lines[1]!, /signature mismatch: either PUBLIC_BASE_URL/);
    assert.match(
      lines[2]!,
      /signature mismatch, likely a URL mismatch: .*Twilio called https:\/\/old-tunnel/,
    );
    assert.match(
      lines[3]!,
      /signature mismatch: the request came to parley\.test .* check TWILIO_AUTH_TOKEN/,
    );
    assert.ok(!lines.some((l) => /unsigned/.test(l)), "a signed request is not called unsigned");
    assert.equal(t.events.filter((e) => e.type === "call.webhook").length, 0);
  } finally {
    await t.close();
  }
});

Deno.test("an unsigned media socket is refused before any OpenAI socket opens", async () => {
  const t = await startTestParley();
  try {
    const response = await fetch(`${t.origin}/twilio-realtime-voice`, {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      },
    });
    assert.equal(response.status, 403);
    await response.body?.cancel();
    assert.equal(t.upstream.handshakes.length, 0);
  } finally {
    await t.close();
  }
});

Deno.test("healthz reports active calls; unknown routes and methods say what is wrong", async () => {
  const t = await startTestParley();
  try {
    assert.deepEqual(await (await fetch(`${t.origin}/healthz`)).json(), { status: "ok", activeCalls: 0 });
    const call = await t.startCall({ persona: "tester" });
    await t.waitForEvent("call.started");
    assert.deepEqual(await (await fetch(`${t.origin}/healthz`)).json(), { status: "ok", activeCalls: 1 });
    call.stop();
    await call.closed;
    await t.waitForEvent("call.ended");

    const missing = await fetch(`${t.origin}/nope`);
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: "No route for GET /nope" });
    const wrong = await fetch(`${t.origin}/healthz`, { method: "DELETE" });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "GET");
    await wrong.body?.cancel();
    const plain = await fetch(`${t.origin}/twilio-realtime-voice`);
    assert.equal(plain.status, 426);
    assert.match((await plain.json()).error, /Upgrade: websocket/);
  } finally {
    await t.close();
  }
});

Deno.test("a call store that cannot be read does not fail the call: the webhook answers it, and says why", async () => {
  const dataDir = await Deno.makeTempDir();
  const real = openCallStore(`${dataDir}/parley.db`);
  // The store's reads of one call fail (a database restarting), then hang (a stuck connection).
  let reads: "failing" | "hanging" = "failing";
  const store = new Proxy(real, {
    get(target, key) {
      if (key === "getCall") {
        return () =>
          reads === "failing" ? Promise.reject(new Error("database unavailable")) : new Promise(() => {});
      }
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as CallStore;
  const t = await startTestParley({ store, seenBeforeWaitMs: 200 });
  try {
    const call = await t.startCall({ persona: "tester" });
    const started = await within(t.waitForEvent("call.started"), "the call to start");
    assert.equal(started.callSid, call.callSid);
    await t.waitForLog(
      new RegExp(
        `Cannot read the call store for CallSid=${call.callSid} \\(database unavailable\\): answering it as a new call`,
      ),
    );
    call.stop();
    await within(t.waitForEvent("call.ended"), "the call to end");

    reads = "hanging";
    const callSid = "CA" + "7".repeat(32);
    const askedAt = performance.now();
    const answer = await postWebhook(t, "/api/twilio/voice-realtime", { ...twilioForm, CallSid: callSid });
    assert.equal(answer.status, 200);
    assert.match(await answer.text(), /<Connect action="[^"]+"[^>]*><Stream url="wss:/);
    const tookMs = performance.now() - askedAt;
    assert.ok(tookMs >= 190, `answered once the 200 ms wait was over: ${Math.round(tookMs)} ms`);
    assert.ok(
      tookMs < 5_000,
      `answered ${Math.round(tookMs)} ms after a read that never ends, not at Twilio's 15 s`,
    );
  } finally {
    await t.close();
    real.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a shared token ledger that fails does not refuse a call's socket; a replay to this instance still is", async () => {
  // Several instances share the ledger in the database; here the database is down.
  let sharedClaims = 0;
  const down: UsedStreamTokens = {
    claim: () => {
      sharedClaims++;
      return Promise.reject(new Error("database unavailable"));
    },
  };
  const t = await startTestParley({ usedStreamTokens: down });
  try {
    const callSid = "CA" + "8".repeat(32);
    const streamUrl = await t.answerWebhook(callSid);
    const call = await t.connectStream(streamUrl, callSid);
    call.start({});
    const started = await within(t.waitForEvent("call.started"), "the call to start");
    assert.equal(started.callSid, callSid);
    assert.equal(sharedClaims, 1, "the shared ledger was asked");
    await t.waitForLog(
      /Stream tokens: cannot record a token's use in the database \(database unavailable\): checked on this instance only/,
    );
    // The same stream URL again, to the same instance: this instance remembers it was used.
    await assert.rejects(t.connectStream(streamUrl, callSid), "a replay of the token is refused here");
    assert.equal(sharedClaims, 1, "this instance refused it without asking the database");
    call.stop();
    await within(t.waitForEvent("call.ended"), "the call to end");
  } finally {
    await t.close();
  }
});
