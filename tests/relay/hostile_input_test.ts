/**
 * Hostile or broken frames on the media socket: each is logged (rate-limited, never the payload) and
 * the call goes on; a healthy call beside it is untouched.
 */

import assert from "node:assert/strict";
import { toBase64, toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";

const TESTDATA_PERSONAS = new URL("../testdata/personas/", import.meta.url).pathname;

Deno.test("a flood of garbage on one media socket leaves that call and a healthy call alive", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: { DEFAULT_PERSONA: "tester" } });
  try {
    const healthy = await t.startCall({ persona: "tester" });
    const healthySession = await t.upstream.session(0);
    await healthySession.waitFor("session.update");

    const hostile = await t.startCall({ persona: "tester" });
    const hostileSession = await t.upstream.session(1);
    await hostileSession.waitFor("session.update");

    const secret = "SECRET-PAYLOAD-" + "z".repeat(100);
    const garbage: (string | Uint8Array)[] = [
      "not json at all " + secret,
      "[1,2,3]",
      "null",
      JSON.stringify({ event: "media" }),
      JSON.stringify({ event: "media", media: { payload: "@@@not base64@@@" + secret } }),
      JSON.stringify({ event: "media", media: { payload: 42 } }),
      JSON.stringify({ event: "mark" }),
      JSON.stringify({ event: "mark", mark: { name: "item_unknown:999" } }),
      JSON.stringify({ event: "surprise", data: secret }),
      JSON.stringify({ noEvent: true }),
      JSON.stringify({ event: "start", start: { streamSid: "MZother", callSid: "CAother" } }),
      JSON.stringify({ event: "media", media: { payload: "A".repeat(2_000_000) } }),
      new Uint8Array([1, 2, 3, 4]),
    ];
    for (let round = 0; round < 50; round++) {
      for (const frame of garbage) hostile.sendRaw(frame);
      healthy.sendMedia(new Uint8Array(160).fill(round + 1));
    }
    // A good frame after the flood: once it arrives upstream, Parley has read everything before it.
    const good = new Uint8Array(160).fill(250);
    hostile.sendMedia(good);
    await hostileSession.waitFor("input_audio_buffer.append", (e) => e.audio === toBase64(good));
    await healthySession.waitFor(
      "input_audio_buffer.append",
      (e) => e.audio === toBase64(new Uint8Array(160).fill(50)),
    );

    assert.equal(hostileSession.eventsOf("input_audio_buffer.append").length, 1, "no garbage reached OpenAI");
    assert.equal(
      healthySession.eventsOf("input_audio_buffer.append").length,
      50,
      "healthy call lost nothing",
    );
    assert.equal(
      t.counters.malformedFrames,
      50 * (garbage.length - 1),
      "every bad frame counted (the echo is valid)",
    );

    const warnings = t.logs.filter((l) => l.line.includes("Ignored a malformed frame"));
    assert.ok(warnings.length >= 1 && warnings.length <= 3, `rate-limited: ${warnings.length} lines`);
    assert.ok(!t.logs.some((l) => l.line.includes("SECRET-PAYLOAD")), "payloads are never logged");

    // Both calls still relay audio the other way.
    await healthySession.streamResponse({ responseId: "r1", itemId: "i1", audio: toneBytes(100, 3) });
    await hostileSession.streamResponse({ responseId: "r2", itemId: "i2", audio: toneBytes(100, 4) });
    await healthy.waitFor("media");
    await hostile.waitFor("media");
    assert.equal(t.parley.activeCalls(), 2);
    healthy.stop();
    hostile.stop();
    await Promise.all([healthy.closed, hostile.closed]);
  } finally {
    await t.close();
  }
});

Deno.test("text from the peer cannot forge or recolour log lines (DTMF digits, custom parameters)", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: { DEFAULT_PERSONA: "tester" } });
  try {
    const forged =
      "\n[Realtime] Call ended: CallSid=CA00000000000000000000000000000000 reason=caller_hung_up";
    const call = await t.startCall({ persona: `nobody${forged}\r\u001b[2J\u2028` });
    const session = await t.upstream.session(0);
    await session.waitFor("session.update");
    call.sendJson({
      event: "dtmf",
      streamSid: call.streamSid,
      dtmf: { track: "inbound_track", digit: `1${forged}` },
    });
    await t.waitForLog(/DTMF 1/);
    await t.waitForLog(/Unknown persona "nobody/);
    // deno-lint-ignore no-control-regex
    const raw = t.logs.filter((l) => /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(l.line));
    assert.deepEqual(raw, [], "no log line carries a raw control character");
    assert.ok(
      t.logs.some((l) => l.line.includes("DTMF 1\\x0a[Realtime] Call ended")),
      "escaped, still readable",
    );
    call.stop();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("a stop naming another stream is ignored: the call goes on both ways", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: { DEFAULT_PERSONA: "tester" } });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("session.update");

    call.sendJson({
      event: "stop",
      sequenceNumber: "5",
      streamSid: "MZ0000000000000000000000000000other",
      stop: {
        accountSid: "AC00000000000000000000000000000000",
        callSid: "CA0000000000000000000000000000other",
      },
    });
    const after = new Uint8Array(160).fill(9);
    call.sendMedia(after);
    const ended = call.closed.then(() => {
      throw new Error("Parley closed the call on another stream's stop");
    });
    await within(
      Promise.race([session.waitFor("input_audio_buffer.append", (e) => e.audio === toBase64(after)), ended]),
      "the caller frame sent after the foreign stop",
    );
    ended.catch(() => {}); // the call's own stop closes it below
    await t.waitForLog(/Ignored a malformed frame from Twilio on .*: stop for streamSid=MZ0+other/);
    assert.equal(t.parley.activeCalls(), 1, "the call did not end");
    assert.equal(t.events.filter((e) => e.type === "call.ended").length, 0);

    await session.streamResponse({ responseId: "r1", itemId: "i1", audio: toneBytes(100, 3) });
    await call.waitFor("media");

    // Its own stop still ends it.
    call.stop();
    await call.closed;
    assert.equal((await t.waitForEvent("call.ended")).reason, "caller_hung_up");
  } finally {
    await t.close();
  }
});

Deno.test("a huge DTMF digit or foreign streamSid is cut in its log line, and the call goes on", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: { DEFAULT_PERSONA: "tester" } });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("session.update");

    call.sendJson({ event: "dtmf", streamSid: call.streamSid, dtmf: { digit: "7".repeat(60_000) } });
    call.sendJson({ event: "media", streamSid: `MZ${"f".repeat(30_000)}`, media: { payload: "AAAA" } });
    const good = new Uint8Array(160).fill(11);
    call.sendMedia(good);
    await session.waitFor("input_audio_buffer.append", (e) => e.audio === toBase64(good));

    const dtmf = await t.waitForLog(/DTMF 7/);
    assert.ok(dtmf.length < 200, `DTMF line of ${dtmf.length} characters`);
    assert.match(dtmf, /DTMF 7{40}… \(60000 chars\) on CallSid=/);
    const dropped = await t.waitForLog(/Dropped a media frame for streamSid=MZf/);
    assert.ok(dropped.length < 300, `foreign-stream line of ${dropped.length} characters`);
    assert.equal(t.parley.activeCalls(), 1);
    call.stop();
    await call.closed;
  } finally {
    await t.close();
  }
});
