/**
 * Only Twilio, once per call, can open an OpenAI session: each call's stream URL carries its own
 * token, a replayed or bare-path handshake opens nothing, a socket cannot speak for another call,
 * and MAX_CONCURRENT_CALLS bounds the sessions a flood of webhooks can open.
 */

import { within } from "../testing/within.ts";
import assert from "node:assert/strict";
import {
  newCallSid,
  startTestParley,
  TEST_PUBLIC_BASE_URL,
  type TestParley,
} from "../testing/parley_harness.ts";

const TESTDATA_PERSONAS = new URL("./testdata/personas/", import.meta.url).pathname;
const env = { DEFAULT_PERSONA: "tester", API_TOKEN: "security-test-token-0123456789" };

/** Opens the upgrade request the way a replaying attacker would, returning the HTTP status. */
async function handshake(origin: string, path: string, headers: Record<string, string>): Promise<number> {
  const response = await fetch(`${origin}${path}`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      ...headers,
    },
  });
  await response.body?.cancel();
  return response.status;
}

/** Posts the voice webhook with `form`, signed as Twilio would. */
function postWebhook(t: TestParley, form: Record<string, string>): Promise<Response> {
  return fetch(`${t.origin}/api/twilio/voice-realtime`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      ...t.twilioHeaders(`${TEST_PUBLIC_BASE_URL}/api/twilio/voice-realtime`, form),
    },
    body: new URLSearchParams(form),
  });
}

/** The /metrics text. */
async function scrape(t: TestParley): Promise<string> {
  const response = await fetch(`${t.origin}/metrics`, {
    headers: { authorization: `Bearer ${env.API_TOKEN}` },
  });
  return await response.text();
}

Deno.test("a replayed media handshake opens nothing: each stream URL is good for one socket", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env });
  try {
    const callSid = newCallSid();
    const streamUrl = await t.answerWebhook(callSid);
    assert.match(streamUrl, new RegExp(`^wss://parley\\.test/twilio-realtime-voice/${callSid}\\.`));
    const call = await t.connectStream(streamUrl, callSid);
    call.start({ persona: "tester" });
    await (await t.upstream.session(0)).waitFor("session.update");

    const path = new URL(streamUrl).pathname;
    for (let i = 0; i < 20; i++) {
      assert.equal(await handshake(t.origin, path, t.twilioHeaders(streamUrl)), 403);
    }
    // The fixed URL of old, validly signed, is no way in either.
    const bare = `${TEST_PUBLIC_BASE_URL.replace("https", "wss")}/twilio-realtime-voice`;
    assert.equal(await handshake(t.origin, "/twilio-realtime-voice", t.twilioHeaders(bare)), 403);
    assert.equal(t.upstream.handshakes.length, 1, "one OpenAI session, for the real call");
    assert.ok(t.logs.some((l) => /Refused media socket: stream token replayed/.test(l.line)));
    assert.ok(t.logs.some((l) => /Refused media socket: stream token missing/.test(l.line)));

    assert.match(await scrape(t), /^parley_streams_refused_total 21$/m);
    call.stop();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("a socket cannot start or stop another call: a start for a foreign CallSid is refused", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env });
  try {
    const victim = await t.startCall({ persona: "tester" });
    await t.waitForEvent("call.started", (e) => e.callSid === victim.callSid);

    // An attacker with a genuine token of their own call speaks for the victim's CallSid.
    const intruder = await t.connectStream(await t.answerWebhook(newCallSid()), victim.callSid);
    intruder.start({ persona: "tester" });
    intruder.stop();
    await intruder.closed;
    await t.waitForLog(
      /Call ended: connection \S+ \(stream of CallSid=CA\w+\) reason=error \(start for CallSid=/,
    );

    assert.equal(t.parley.activeCalls(), 1, "the victim's call goes on");
    const victimEvents = t.events.filter((e) => e.callSid === victim.callSid).map((e) => e.type);
    assert.ok(
      !victimEvents.includes("call.ended"),
      "nothing from the intruder's socket ended the victim's record",
    );
    assert.equal(victimEvents.filter((type) => type === "call.started").length, 1, "nor started it again");
    // One session per answered webhook (pre-warmed): the victim's, and the one for the intruder's
    // own call, which its foreign start did not get and which is closed with the socket.
    assert.equal(t.upstream.sessions.length, 2, "the foreign start opened nothing upstream");
    await within(t.upstream.sessions[1]!.closed, "the intruder's own pre-warmed session closing");
    assert.equal(intruder.messagesOf("media").length, 0, "no agent audio reached the intruder");
    victim.stop();
    await victim.closed;
  } finally {
    await t.close();
  }
});

Deno.test("a refused socket's log line shows a short prefix of its unused stream token, not the token", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env });
  try {
    const callSid = newCallSid();
    const streamUrl = await t.answerWebhook(callSid);
    const path = new URL(streamUrl).pathname;
    const token = path.split("/").pop()!;
    assert.equal(await handshake(t.origin, path, {}), 403, "no signature");
    const line = await t.waitForLog(/missing signature/);
    assert.ok(!line.includes(token), line);
    assert.match(line, new RegExp(`Refused /twilio-realtime-voice/${token.slice(0, 8)}…: missing signature`));
    assert.equal(t.logs.filter((l) => l.line.includes(token.slice(0, 20))).length, 0, "nowhere");
  } finally {
    await t.close();
  }
});

Deno.test("at MAX_CONCURRENT_CALLS the webhook answers the persona's fallback with no stream, logged and counted", async () => {
  const t = await startTestParley({
    personasDir: TESTDATA_PERSONAS,
    env: { ...env, MAX_CONCURRENT_CALLS: "2" },
  });
  try {
    const live = await t.startCall({ persona: "tester" });
    await t.waitForEvent("call.started");
    await t.answerWebhook(newCallSid()); // answered, its socket not yet open: it holds a place too
    const refused = newCallSid();
    const response = await postWebhook(t, {
      CallSid: refused,
      AccountSid: "AC00000000000000000000000000000000",
    });
    assert.equal(response.status, 200);
    assert.equal(
      await response.text(),
      '<?xml version="1.0" encoding="UTF-8"?><Response><Say>The tester is away.</Say></Response>',
    );
    assert.match(
      await t.waitForLog(/Refused call/),
      new RegExp(
        `Refused call CallSid=${refused} \\(MAX_CONCURRENT_CALLS=2 calls are in progress: try again later\\)`,
      ),
    );
    assert.match(await scrape(t), /^parley_calls_refused_total\{reason="capacity"\} 1$/m);
    // The live call's and the answered call's (pre-warmed on its webhook); none for the refused one.
    assert.equal(t.upstream.handshakes.length, 2);
    live.stop();
    await live.closed;
  } finally {
    await t.close();
  }
});

Deno.test("the voice webhook refuses a missing or malformed CallSid, as the status route does", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env });
  try {
    for (
      const callSid of [undefined, "CA123", `CA${"0".repeat(32)}\n`, "CAzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"]
    ) {
      const response = await postWebhook(t, callSid === undefined ? {} : { CallSid: callSid });
      assert.equal(response.status, 400, JSON.stringify(callSid));
      assert.match((await response.json()).error, /CallSid/);
    }
    assert.ok(t.logs.some((l) => /Refused voice webhook: CallSid missing/.test(l.line)));
    assert.equal(t.events.length, 0, "no record for a call that is not one");
  } finally {
    await t.close();
  }
});
