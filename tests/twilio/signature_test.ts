import assert from "node:assert/strict";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import {
  checkTwilioSignature,
  MAX_TWILIO_FORM_BYTES,
  readTwilioForm,
  TwilioFormTooLargeError,
  type TwilioSignatureOptions,
} from "../../src/twilio/signature.ts";

const TOKEN = "12345678901234567890123456789012";
const PUBLIC = "https://parley.ngrok.app";
const PARAMS = { CallSid: "CA" + "a".repeat(32), CallStatus: "ringing", From: "+14155550100" };

function options(overrides: Partial<TwilioSignatureOptions> = {}): TwilioSignatureOptions {
  return { authToken: TOKEN, publicBaseUrl: PUBLIC, enabled: true, params: PARAMS, ...overrides };
}

/** A request as it reaches Parley behind ngrok: local URL, public host in Host. */
function webhook(pathAndQuery: string, headers: Record<string, string>): Request {
  return new Request(`http://localhost:4000${pathAndQuery}`, {
    method: "POST",
    headers: { host: "parley.ngrok.app", "x-forwarded-proto": "https", ...headers },
  });
}

function refusal(result: ReturnType<typeof checkTwilioSignature>): string {
  assert.equal(result.ok, false);
  return (result as { reason: string }).reason;
}

Deno.test("checkTwilioSignature accepts a webhook signed over PUBLIC_BASE_URL + path + query", () => {
  const path = "/api/twilio/voice-realtime?persona=alex&leadName=Ada%20Lovelace";
  const signature = getExpectedTwilioSignature(TOKEN, `${PUBLIC}${path}`, PARAMS);
  assert.deepEqual(checkTwilioSignature(webhook(path, { "x-twilio-signature": signature }), options()), {
    ok: true,
  });
});

Deno.test("checkTwilioSignature refuses a webhook whose params were altered", () => {
  const path = "/api/twilio/status";
  const signature = getExpectedTwilioSignature(TOKEN, `${PUBLIC}${path}`, PARAMS);
  const req = webhook(path, { "x-twilio-signature": signature });
  const reason = refusal(
    checkTwilioSignature(req, options({ params: { ...PARAMS, CallStatus: "completed" } })),
  );
  assert.match(reason, /signature mismatch/);
});

Deno.test("checkTwilioSignature on the media socket", async (t) => {
  const path = "/twilio-realtime-voice";
  const upgrade = (signature: string) =>
    new Request(`http://127.0.0.1:4000${path}`, {
      headers: { host: "parley.ngrok.app", upgrade: "websocket", "x-twilio-signature": signature },
    });

  await t.step("accepts the exact wss:// URL with no params", () => {
    const signature = getExpectedTwilioSignature(TOKEN, `wss://parley.ngrok.app${path}`, {});
    assert.deepEqual(checkTwilioSignature(upgrade(signature), options({ params: {}, websocket: true })), {
      ok: true,
    });
  });

  await t.step("accepts the URL signed with a trailing slash", () => {
    const signature = getExpectedTwilioSignature(TOKEN, `wss://parley.ngrok.app${path}/`, {});
    assert.deepEqual(checkTwilioSignature(upgrade(signature), options({ params: {}, websocket: true })), {
      ok: true,
    });
  });

  await t.step("refuses an https:// signature for the socket", () => {
    const signature = getExpectedTwilioSignature(TOKEN, `${PUBLIC}${path}`, {});
    refusal(checkTwilioSignature(upgrade(signature), options({ params: {}, websocket: true })));
  });

  await t.step("a URL mismatch on a stream URL names the URL it is valid for without its token", () => {
    // An unused stream token opens a call's socket: the log shows only its first characters.
    const token = "v1.CA0123456789abcdef0123456789abcdef.1999999999.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg";
    const streamPath = `${path}/${token}`;
    const signature = getExpectedTwilioSignature(TOKEN, `wss://old-tunnel.ngrok.app${streamPath}`, {});
    const req = new Request(`http://127.0.0.1:4000${streamPath}`, {
      headers: { host: "old-tunnel.ngrok.app", upgrade: "websocket", "x-twilio-signature": signature },
    });
    const reason = refusal(checkTwilioSignature(req, options({ params: {}, websocket: true })));
    assert.match(
      reason,
      /signature is valid for wss:\/\/old-tunnel\.ngrok\.app\/twilio-realtime-voice\/v1\.CA/,
    );
    assert.ok(!reason.includes(token.slice(12)), `the token is shortened: ${reason}`);
  });
});

Deno.test("checkTwilioSignature refuses a forged signature", () => {
  const req = webhook("/api/twilio/status", { "x-twilio-signature": "bm90IGEgc2lnbmF0dXJl" });
  assert.match(refusal(checkTwilioSignature(req, options())), /signature mismatch/);
});

Deno.test("checkTwilioSignature blames the token when the URL matches PUBLIC_BASE_URL", () => {
  const path = "/api/twilio/status";
  const signature = getExpectedTwilioSignature(
    "another-accounts-token-000000000",
    `${PUBLIC}${path}`,
    PARAMS,
  );
  const reason = refusal(checkTwilioSignature(webhook(path, { "x-twilio-signature": signature }), options()));
  assert.match(reason, /check TWILIO_AUTH_TOKEN matches the account that owns the number/);
  assert.doesNotMatch(reason, /set PUBLIC_BASE_URL/);
  assert.ok(!reason.includes(TOKEN), "the reason must not print the token");
});

Deno.test("checkTwilioSignature diagnoses a URL mismatch", async (t) => {
  const path = "/api/twilio/status";

  await t.step("from the Host header, proving the token right", () => {
    const signature = getExpectedTwilioSignature(TOKEN, `https://old-tunnel.ngrok.app${path}`, PARAMS);
    const req = webhook(path, { host: "old-tunnel.ngrok.app", "x-twilio-signature": signature });
    const reason = refusal(checkTwilioSignature(req, options()));
    assert.match(reason, /likely a URL mismatch/);
    assert.match(
      reason,
      /PUBLIC_BASE_URL is https:\/\/parley\.ngrok\.app but Twilio called https:\/\/old-tunnel/,
    );
    assert.match(reason, /signature is valid for https:\/\/old-tunnel\.ngrok\.app\/api\/twilio\/status/);
    assert.match(reason, /set PUBLIC_BASE_URL to the URL Twilio uses/);
  });

  await t.step("from X-Forwarded-Host when the tunnel rewrites Host", () => {
    const signature = getExpectedTwilioSignature(
      "wrong-token-wrong-token-wrong-tok",
      `https://b.example${path}`,
      {},
    );
    const req = webhook(path, {
      host: "localhost:4000",
      "x-forwarded-host": "b.example",
      "x-twilio-signature": signature,
    });
    const reason = refusal(checkTwilioSignature(req, options({ params: {} })));
    assert.match(reason, /Twilio called https:\/\/b\.example: set PUBLIC_BASE_URL/);
    assert.doesNotMatch(reason, /signature is valid/);
  });

  await t.step("names both causes when only a loopback Host is known", () => {
    const req = webhook(path, { host: "localhost:4000", "x-twilio-signature": "Zm9yZ2Vk" });
    const reason = refusal(checkTwilioSignature(req, options()));
    assert.match(reason, /either PUBLIC_BASE_URL/);
    assert.match(reason, /TWILIO_AUTH_TOKEN/);
  });
});

Deno.test("checkTwilioSignature says the header is missing", () => {
  const reason = refusal(checkTwilioSignature(webhook("/api/twilio/status", {}), options()));
  assert.match(reason, /missing signature \(no X-Twilio-Signature header\)/);
});

Deno.test("checkTwilioSignature refuses without TWILIO_AUTH_TOKEN and says to set it", () => {
  const req = webhook("/api/twilio/status", { "x-twilio-signature": "anything" });
  const reason = refusal(checkTwilioSignature(req, options({ authToken: undefined })));
  assert.match(reason, /TWILIO_AUTH_TOKEN is not set: set TWILIO_AUTH_TOKEN/);
});

Deno.test("checkTwilioSignature refuses without PUBLIC_BASE_URL and says to set it", () => {
  const req = webhook("/api/twilio/status", { "x-twilio-signature": "anything" });
  assert.match(
    refusal(checkTwilioSignature(req, options({ publicBaseUrl: undefined }))),
    /PUBLIC_BASE_URL is not set/,
  );
});

Deno.test("checkTwilioSignature accepts anything when the check is switched off", () => {
  const req = webhook("/api/twilio/status", {});
  assert.deepEqual(checkTwilioSignature(req, options({ enabled: false, authToken: undefined })), {
    ok: true,
  });
});

Deno.test("readTwilioForm reads the form once and bounds its size", async (t) => {
  await t.step("parses urlencoded fields", async () => {
    const body = new URLSearchParams({ CallSid: "CA1", Caller: "+1 415 555" }).toString();
    const req = new Request("http://localhost/", {
      method: "POST",
      body,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assert.deepEqual(await readTwilioForm(req), { CallSid: "CA1", Caller: "+1 415 555" });
  });

  await t.step("gives {} for an empty body", async () => {
    assert.deepEqual(await readTwilioForm(new Request("http://localhost/", { method: "POST" })), {});
  });

  await t.step("throws for a body over the limit", async () => {
    const req = new Request("http://localhost/", {
      method: "POST",
      body: "a=" + "x".repeat(MAX_TWILIO_FORM_BYTES),
    });
    await assert.rejects(readTwilioForm(req), TwilioFormTooLargeError);
  });

  await t.step("throws for a streamed body over the limit", async () => {
    const chunk = new Uint8Array(16 * 1024).fill(0x61);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const req = new Request("http://localhost/", { method: "POST", body: stream });
    await assert.rejects(readTwilioForm(req), TwilioFormTooLargeError);
  });
});
