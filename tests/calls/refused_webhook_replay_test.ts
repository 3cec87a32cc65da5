/**
 * A refused call's webhook replayed: the voice webhook of a call refused at MAX_CONCURRENT_CALLS, or
 * while draining, sent again (a Twilio retry, or a replayed capture) once a slot is free, or to the
 * next run, opens nothing: no stream token, no pre-warmed OpenAI session, no slot. The refused call is
 * recorded, ended at once as `never_connected` with a detail saying it was refused.
 */

import assert from "node:assert/strict";
import { VOICE_WEBHOOK_PATH } from "../../src/paths.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";
import {
  newCallSid,
  startTestParley,
  TEST_PUBLIC_BASE_URL,
  type TestParley,
} from "../../testing/parley_harness.ts";

const API_TOKEN = "refused-replay-token-0123456789";
const FALLBACK = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>The tester is away.</Say></Response>';
const HANGUP = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>';

/** Posts the signed voice webhook for `callSid`, byte for byte as Twilio (or a replaying attacker) would. */
async function webhook(t: TestParley, callSid: string): Promise<string> {
  const form = { CallSid: callSid, AccountSid: "AC00000000000000000000000000000000", From: "+14155550100" };
  const response = await fetch(`${t.origin}${VOICE_WEBHOOK_PATH}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      ...t.twilioHeaders(`${TEST_PUBLIC_BASE_URL}${VOICE_WEBHOOK_PATH}`, form),
    },
    body: new URLSearchParams(form),
  });
  assert.equal(response.status, 200);
  return await response.text();
}

/** One sample of the /metrics text, 0 when absent. */
async function metric(t: TestParley, line: RegExp): Promise<number> {
  const text = await (await fetch(`${t.origin}/metrics`, {
    headers: { authorization: `Bearer ${API_TOKEN}` },
  })).text();
  const found = text.split("\n").find((l) => line.test(l));
  return found === undefined ? 0 : Number(found.split(" ").pop());
}

/** `GET /api/calls/:callSid`. */
async function record(t: TestParley, callSid: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${t.origin}/api/calls/${callSid}`, {
    headers: { authorization: `Bearer ${API_TOKEN}` },
  });
  assert.equal(response.status, 200);
  return await response.json();
}

Deno.test("a webhook refused at MAX_CONCURRENT_CALLS, replayed once the slot is free, gets the same fallback and opens nothing", async () => {
  const dataDir = await Deno.makeTempDir();
  const store = openCallStore(`${dataDir}/parley.db`);
  const t = await startTestParley({ store, env: { API_TOKEN, MAX_CONCURRENT_CALLS: "1" } });
  try {
    const live = await t.startCall({ persona: "tester" });
    await t.waitForEvent("call.started");
    const refused = newCallSid();
    assert.equal(await webhook(t, refused), FALLBACK, "refused: the fallback, no stream");

    live.stop();
    await live.closed;
    await t.waitForEvent("call.ended", (e) => e.callSid === live.callSid);
    const handshakes = t.upstream.handshakes.length;

    // The slot is free now: the same signed request, replayed, is still the refused call.
    assert.equal(await webhook(t, refused), FALLBACK, "the same answer: no stream token");
    assert.equal(await webhook(t, refused), FALLBACK);
    await new Promise((resolve) => setTimeout(resolve, 100)); // a pre-warm would have dialled by now
    assert.equal(t.upstream.handshakes.length, handshakes, "no OpenAI session opened for the replays");
    assert.equal(await metric(t, /^parley_prewarm_total\{outcome="opened"\} /), 1, "the live call's only");
    assert.equal(await metric(t, /^parley_calls_refused_total\{reason="capacity"\} /), 1, "refused once");
    assert.ok(t.logs.some((l) => l.line.includes(`Repeated voice webhook for CallSid=${refused}`)));
    assert.equal(t.events.filter((e) => e.type === "call.webhook" && e.callSid === refused).length, 1);
    const ends = t.events.filter((e) => e.type === "call.ended" && e.callSid === refused);
    assert.deepEqual(
      ends.map((e) => e.type === "call.ended" && e.reason),
      ["never_connected"],
      "ended at once",
    );

    // Recorded as the refused call it is: ended, never started, with the caller's number.
    const refusedRecord = await record(t, refused);
    assert.equal(refusedRecord.startedAt, null);
    assert.equal(typeof refusedRecord.endedAt, "number");
    assert.equal(refusedRecord.endReason, "never_connected");
    assert.match(String(refusedRecord.endDetail), /^refused \(MAX_CONCURRENT_CALLS=1/);
    assert.equal(refusedRecord.from, "+14155550100");

    // A new caller does get the free slot.
    assert.match(await webhook(t, newCallSid()), /<Stream url="wss:/);
  } finally {
    await t.close();
    store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a webhook refused while draining opens nothing when replayed, there or to the next run on the same store", async () => {
  const dataDir = await Deno.makeTempDir();
  const refused = newCallSid();
  const first = openCallStore(`${dataDir}/parley.db`);
  const draining = await startTestParley({ store: first, env: { API_TOKEN } });
  try {
    await draining.parley.drain(); // nothing in flight: drained at once, and still refusing
    assert.equal(await webhook(draining, refused), FALLBACK);
    await draining.waitForLog(new RegExp(`Refused call CallSid=${refused} \\(The server is draining`));
    assert.equal(await webhook(draining, refused), FALLBACK, "a repeat: the same answer");
    assert.equal(draining.upstream.handshakes.length, 0);
  } finally {
    await draining.close();
    first.close();
  }

  const second = openCallStore(`${dataDir}/parley.db`);
  const next = await startTestParley({ store: second, env: { API_TOKEN } });
  try {
    // This run remembers nothing of it; the store has its ended record.
    assert.equal(await webhook(next, refused), HANGUP, "no stream for the replay");
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(next.upstream.handshakes.length, 0, "no OpenAI session opened");
    assert.equal(next.events.filter((e) => e.type === "call.webhook").length, 0, "not a new call");
    assert.match(await webhook(next, newCallSid()), /<Stream url="wss:/, "a new call is answered");
  } finally {
    await next.close();
    second.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
