/**
 * The voice webhook by GET (a number whose voice URL is set to GET), as Twilio sends it: Twilio's
 * request parameters appended to the webhook URL's query. The record gets the caller's number,
 * the number called and the direction; the stream gets the call's own parameters only.
 */

import assert from "node:assert/strict";
import { VOICE_WEBHOOK_PATH } from "../../src/paths.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";
import { newCallSid, startTestParley, TEST_PUBLIC_BASE_URL } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";

const API_TOKEN = "get-webhook-token-0123456789";

/** The `<Parameter>`s of a `<Stream>`: what Twilio sends as the stream's `customParameters`. */
function streamParameters(twiml: string): Record<string, string> {
  return Object.fromEntries(
    [...twiml.matchAll(/<Parameter name="([^"]*)" value="([^"]*)"\/>/g)].map((m) => [m[1]!, m[2]!]),
  );
}

Deno.test("a GET voice webhook: the record has Twilio's numbers and direction, the stream only the call's parameters", async () => {
  const dataDir = await Deno.makeTempDir();
  const store = openCallStore(`${dataDir}/parley.db`);
  const t = await startTestParley({ store, env: { API_TOKEN } });
  try {
    const callSid = newCallSid();
    // The URL the number was set up with (`?persona=…&lead=…`), then what Twilio appends to it.
    const query = new URLSearchParams({
      persona: "tester",
      lead: "Dana",
      AccountSid: "AC00000000000000000000000000000000",
      ApiVersion: "2010-04-01",
      CallSid: callSid,
      CallStatus: "ringing",
      Called: "+14155550199",
      Caller: "+14155550100",
      Direction: "inbound",
      From: "+14155550100",
      FromCity: "SAN FRANCISCO",
      To: "+14155550199",
      CallToken: "x".repeat(600),
    });
    const path = `${VOICE_WEBHOOK_PATH}?${query}`;
    const response = await fetch(`${t.origin}${path}`, {
      headers: t.twilioHeaders(`${TEST_PUBLIC_BASE_URL}${path}`),
    });
    assert.equal(response.status, 200);
    const twiml = await response.text();
    assert.deepEqual(streamParameters(twiml), { persona: "tester", lead: "Dana" });
    assert.ok(
      !t.logs.some((l) => l.line.includes("Dropped webhook parameters")),
      "Twilio's CallToken is not a stream parameter: nothing dropped",
    );

    const call = await t.connectStream(/<Stream url="([^"]+)"/.exec(twiml)![1]!, callSid);
    call.start(streamParameters(twiml));
    const started = await within(t.waitForEvent("call.started"), "the call to start");
    assert.deepEqual(started.parameters, { persona: "tester", lead: "Dana" });
    call.stop();
    await within(t.waitForEvent("call.ended"), "the call to end");

    const record = await (await fetch(`${t.origin}/api/calls/${callSid}`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    })).json();
    assert.deepEqual(
      [record.from, record.to, record.direction],
      ["+14155550100", "+14155550199", "inbound"],
    );
    assert.deepEqual(record.parameters, { persona: "tester", lead: "Dana" });
  } finally {
    await t.close();
    store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
