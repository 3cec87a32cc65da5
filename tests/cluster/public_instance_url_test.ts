/**
 * PUBLIC_INSTANCE_URL (issue 19 §4): for load balancers that route by host name, the stream URL the
 * voice webhook answers names this instance, and the media socket Twilio opens there (signed over
 * that URL) is accepted and takes the session pre-warmed on the webhook.
 */

import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { newCallSid, startTestParley, TEST_PUBLIC_BASE_URL } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { MEDIA_STREAM_PATH } from "../../src/paths.ts";

Deno.test("PUBLIC_INSTANCE_URL: the stream URL names this instance, and its socket takes the pre-warm", async () => {
  const t = await startTestParley({ env: { PUBLIC_INSTANCE_URL: "https://parley-a.test/" } });
  try {
    const callSid = newCallSid();
    const streamUrl = await t.answerWebhook(callSid);
    assert.ok(streamUrl.startsWith(`wss://parley-a.test${MEDIA_STREAM_PATH}/`), streamUrl);
    const prewarm = await within(t.upstream.session(0), "the pre-warm to connect");
    // Twilio signs the socket over the URL it was given: PUBLIC_INSTANCE_URL's host.
    const call = await t.connectStream(streamUrl, callSid);
    call.start();
    await within(t.waitForEvent("call.started"), "the call to start");
    assert.equal(t.upstream.sessions.length, 1, "the pre-warmed session serves the call");
    assert.equal(t.upstream.sessions[0], prewarm);
    call.stop();
    await within(t.waitForEvent("call.ended"), "the call to end");

    // A socket signed for PUBLIC_BASE_URL's host is not what Twilio was told: refused.
    const other = newCallSid();
    const otherUrl = await t.answerWebhook(other);
    const balancerUrl = otherUrl.replace(
      "wss://parley-a.test",
      TEST_PUBLIC_BASE_URL.replace("https:", "wss:"),
    );
    await assert.rejects(t.connectStream(balancerUrl, other), "the handshake is refused (403)");
    assert.ok(t.logs.some((l) => /Twilio signature mismatch/.test(l.line)), "the refusal is logged");
  } finally {
    await t.close();
  }
});

Deno.test("PUBLIC_INSTANCE_URL must be an https origin, named when it is not", () => {
  const base = { OPENAI_API_KEY: "sk-test-key-abcdefghijklmnop", PUBLIC_BASE_URL: "https://parley.test" };
  assert.equal(loadConfig(base).publicInstanceUrl, undefined);
  assert.equal(
    loadConfig({ ...base, PUBLIC_INSTANCE_URL: "https://web-1.parley.test/" }).publicInstanceUrl,
    "https://web-1.parley.test",
  );
  for (
    const [value, problem] of [
      ["http://web-1.parley.test", /PUBLIC_INSTANCE_URL: "http:\/\/web-1.parley.test" is not an https URL/],
      ["https://web-1.parley.test/twilio", /PUBLIC_INSTANCE_URL: .* has a path or query/],
    ] as const
  ) {
    assert.throws(
      () => loadConfig({ ...base, PUBLIC_INSTANCE_URL: value }),
      (error) => error instanceof ConfigError && error.problems.some((p) => problem.test(p)),
    );
  }
});
