/**
 * `PUBLIC_BASE_URL` written with an upper-case host (`https://Parley.test`): the URLs Parley gives
 * Twilio for an outbound call (its webhook and status callback) are the ones its signature check
 * rebuilds, so Twilio's signed requests over them are accepted. Before, Parley handed Twilio the URL
 * as written, Twilio signed it so, and the check (which lower-cases the host) refused both with 403.
 */

import assert from "node:assert/strict";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { startTestParley, TEST_AUTH_TOKEN } from "../../testing/parley_harness.ts";
import { startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";

const ACCOUNT_SID = `AC${"0123456789abcdef".repeat(2)}`;
const API_TOKEN = "public-url-case-token-0123456789";

/** Twilio's request to `signedUrl` (signed as Twilio would), sent to the test server. */
async function asTwilio(origin: string, signedUrl: string, form: Record<string, string>): Promise<Response> {
  const url = new URL(signedUrl);
  return await fetch(`${origin}${url.pathname}${url.search}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-twilio-signature": getExpectedTwilioSignature(TEST_AUTH_TOKEN, signedUrl, form),
    },
    body: new URLSearchParams(form),
  });
}

Deno.test("an upper-case host in PUBLIC_BASE_URL: Twilio's signed webhook and status callback are accepted", async () => {
  await using twilio = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  const t = await startTestParley({
    env: {
      PUBLIC_BASE_URL: "https://Parley.TEST:443/",
      DEFAULT_PERSONA: "tester",
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
      body: JSON.stringify({ to: "+14155550100", persona: "tester" }),
    });
    assert.equal(placed.status, 201);
    const { callSid } = await placed.json();
    const request = twilio.requests.find((r) => r.method === "POST" && r.path.endsWith("/Calls.json"))!;
    const webhookUrl = request.form.get("Url")!;
    const statusUrl = request.form.get("StatusCallback")!;

    const form = { CallSid: callSid, AccountSid: ACCOUNT_SID, From: "+14155550199", To: "+14155550100" };
    const webhook = await asTwilio(t.origin, webhookUrl, form);
    assert.equal(webhook.status, 200, await webhook.clone().text());
    assert.match(await webhook.text(), /<Stream url="wss:\/\/parley\.test\//);
    const status = await asTwilio(t.origin, statusUrl, { ...form, CallStatus: "completed" });
    assert.equal(status.status, 204);
    await status.body?.cancel();
    // Given to Twilio as the origin normalises it (what the check rebuilds).
    assert.ok(webhookUrl.startsWith("https://parley.test/"), webhookUrl);
    assert.ok(statusUrl.startsWith("https://parley.test/"), statusUrl);
  } finally {
    await t.close();
  }
});
