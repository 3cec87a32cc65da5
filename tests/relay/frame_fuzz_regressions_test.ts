/**
 * What the frame fuzz (frame_fuzz_test.ts) found, each pinned by a test of its own: a `stop` naming no
 * stream Parley can match ended the call, and an agent audio delta went to Twilio as is, where a quote
 * in it could end the payload and add keys to the frame.
 */

import assert from "node:assert/strict";
import { type FakeRealtimeSession, toBase64, toneBytes } from "../../testing/fake_realtime.ts";
import type { FakeTwilioCall } from "../../testing/fake_twilio.ts";
import { startTestParley, type TestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";
import { sessionCookie } from "../../testing/sign_in.ts";

const TESTDATA_PERSONAS = new URL("../testdata/personas/", import.meta.url).pathname;

/**
 * Deltas no engine hands Twilio: a quote or backslash that would end the payload (and add keys to the
 * frame), and lengths base64 cannot have.
 */
const NOT_AUDIO = [
  'AAAAAA"}},"event":"clear","a":{"b":"', // 36 characters: only the quote refuses it
  "AAA\\", // 4 characters: only the backslash refuses it
  "\u0000\u001b[2J\n",
  "@@not base64@@",
  "AAA",
  "NaN",
];

/** The media payloads Parley sent the fake Twilio, each of them base64 Twilio can play. */
function assertOnlyAudio(call: FakeTwilioCall): void {
  for (const { media } of call.messagesOf("media")) {
    assert.match(media.payload, /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
  }
}

/** A call to the tester persona with its Realtime session configured; the Parley is closed after `body`. */
async function withTesterCall(
  body: (t: TestParley, call: FakeTwilioCall, session: FakeRealtimeSession) => Promise<void>,
): Promise<void> {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: { DEFAULT_PERSONA: "tester" } });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("session.update");
    await body(t, call, session);
  } finally {
    await t.close();
  }
}

Deno.test("a stop whose streamSid is not a string is ignored as malformed: the call goes on", async () => {
  await withTesterCall(async (t, call, session) => {
    for (const streamSid of [42, null, { sid: call.streamSid }, [call.streamSid]]) {
      call.sendJson({ event: "stop", sequenceNumber: "9", streamSid, stop: { callSid: call.callSid } });
    }
    const after = toneBytes(20, 9);
    call.sendMedia(after);
    await within(
      session.waitFor("input_audio_buffer.append", (e) => e.audio === toBase64(after)),
      "the caller frame sent after the stops",
    );
    await t.waitForLog(
      /Ignored a malformed frame from Twilio on .*: stop frame whose streamSid is not a string/,
    );
    assert.equal(t.parley.activeCalls(), 1, "the call did not end");
    assert.equal(t.events.filter((e) => e.type === "call.ended").length, 0);

    call.stop(); // its own stop still ends it
    await call.closed;
    assert.equal((await t.waitForEvent("call.ended")).reason, "caller_hung_up");
  });
});

Deno.test("a Realtime audio delta that is not base64 audio never reaches Twilio; the answer's audio does", async () => {
  await withTesterCall(async (t, call, session) => {
    session.send({ type: "response.created", response: { id: "r1", status: "in_progress" } });
    for (const delta of [...NOT_AUDIO, 42, null, { a: 1 }]) {
      session.send({ type: "response.output_audio.delta", response_id: "r1", item_id: "i1", delta });
    }
    await session.streamResponse({ responseId: "r1", itemId: "i1", audio: toneBytes(40, 0x33) });
    await within(call.waitForEcho("i1:40"), "the answer's end mark echoed (only its 40 ms were sent)");
    assertOnlyAudio(call);
    await t.waitForLog(
      /Unreadable event from OpenAI: response\.output_audio\.delta: "delta" is not base64 audio/,
    );
    assert.equal(t.parley.activeCalls(), 1);
    call.stop();
    await call.closed;
  });
});

Deno.test("a delta of base64's length with no quote or backslash goes to Twilio as is: a control character or a stray letter costs that frame (warning 31951), not the call", async () => {
  await withTesterCall(async (t, call, session) => {
    session.send({ type: "response.created", response: { id: "r1", status: "in_progress" } });
    for (const delta of ["\n\u0000\u001b\t", "@@@@"]) {
      session.send({ type: "response.output_audio.delta", response_id: "r1", item_id: "i1", delta });
    }
    await session.streamResponse({ responseId: "r1", itemId: "i1", audio: toneBytes(40, 0x33) });
    const tone = toBase64(toneBytes(20, 0x33));
    await within(
      call.waitFor("media", (m) => m.media.payload.startsWith(tone.slice(0, 20))),
      "the answer's audio after the two odd deltas",
    );
    assert.deepEqual(call.warnings.map((w) => w.code), [31951, 31951], "Twilio warns once a frame");
    assert.equal(t.parley.activeCalls(), 1, "the call goes on");
    call.stop();
    await call.closed;
  });
});

Deno.test("a GPT-Live audio delta that is not base64 audio never reaches Twilio; the next audio does", async () => {
  const persona = personaSource({ model: "gpt-live-1.1", voice: "marin", instructions: "You are Sam." });
  await withPersonaDir({ "sam.ts": persona }, async (dir) => {
    const t = await startTestParley({ personasDir: dir, env: { DEFAULT_PERSONA: "sam" } });
    try {
      const call = await t.startCall({ persona: "sam" });
      const session = await within(t.live.session(0), "the GPT-Live session");
      await session.waitFor("session.start");
      for (const delta of NOT_AUDIO) session.send({ type: "session.output_audio.delta", delta });
      const good = toneBytes(20, 0x44);
      session.send({ type: "session.output_audio.delta", delta: toBase64(good) });
      await within(call.waitFor("media", (m) => m.media.payload === toBase64(good)), "the good delta");
      assertOnlyAudio(call);
      assert.equal(call.messagesOf("media").length, 1, "only the good delta was sent");
      await t.waitForLog(
        /Unreadable event from OpenAI: session\.output_audio\.delta: "delta" is not base64 audio/,
      );
      assert.equal(t.parley.activeCalls(), 1);
      call.stop();
      await call.closed;
    } finally {
      await t.close();
    }
  });
});

Deno.test("a stream of DTMF frames whose digit is no keypad key writes a line now and then, not one a frame", async () => {
  await withTesterCall(async (t, call, session) => {
    const digits = ["9".repeat(10_000), "", "12", "x", "\u0000", "#*"];
    for (let i = 0; i < 100; i++) {
      call.sendJson({ event: "dtmf", streamSid: call.streamSid, dtmf: { digit: digits[i % digits.length] } });
    }
    call.sendJson({ event: "dtmf", streamSid: call.streamSid, dtmf: { track: "inbound_track", digit: "5" } });
    const after = toneBytes(20, 7);
    call.sendMedia(after);
    await session.waitFor("input_audio_buffer.append", (e) => e.audio === toBase64(after));

    const lines = t.logs.filter((l) => l.line.includes("DTMF"));
    assert.equal(
      lines.filter((l) => /not a keypad key/.test(l.line)).length,
      1,
      "one line for 100 bad frames",
    );
    assert.ok(
      lines.some((l) => l.level === "info" && /DTMF 5 on CallSid=/.test(l.line)),
      "a real key is logged",
    );
    assert.equal(lines.length, 2);
    assert.equal(t.counters.malformedFrames, 100, "each bad frame counted");
    assert.equal(t.parley.activeCalls(), 1);
    call.stop();
    await call.closed;
  });
});

Deno.test("the same OpenAI error over and over writes a line now and then, not one an event; another still shows", async () => {
  await withTesterCall(async (t, call, session) => {
    const error = (code: unknown) =>
      session.send({
        type: "error",
        error: { type: "invalid_request_error", code, message: "again", param: null },
      });
    for (let i = 0; i < 200; i++) error("stuck_exchange");
    error("other_problem");
    const after = toneBytes(20, 8);
    call.sendMedia(after);
    await session.waitFor("input_audio_buffer.append", (e) => e.audio === toBase64(after));
    await within(t.waitForLog(/OpenAI error for CallSid=.*: other_problem: again/), "the other error's line");

    const stuck = t.logs.filter((l) => l.line.includes("stuck_exchange"));
    assert.equal(stuck.length, 1, `${stuck.length} lines for 200 identical errors`);
    assert.equal(stuck[0]!.level, "error");
    assert.equal(t.parley.activeCalls(), 1);
    call.stop();
    await call.closed;
  });
});

Deno.test("an OpenAI error or notice with a 10 KB code writes a short line", async () => {
  const persona = personaSource({ model: "gpt-live-1.1", voice: "marin", instructions: "You are Sam." });
  await withPersonaDir({ "sam.ts": persona }, async (dir) => {
    const t = await startTestParley({ personasDir: dir, env: { DEFAULT_PERSONA: "sam" } });
    try {
      const call = await t.startCall({ persona: "sam" });
      const session = await within(t.live.session(0), "the GPT-Live session");
      await session.waitFor("session.start");
      const code = "c".repeat(10_000);
      session.send({ type: "error", error: { type: "invalid_request_error", code, message: "m" } });
      session.send({ type: "info", code, message: "m" });
      const error = await within(t.waitForLog(/OpenAI error for CallSid=/), "the error's line");
      const notice = await within(t.waitForLog(/OpenAI notice for CallSid=/), "the notice's line");
      for (const line of [error, notice]) {
        assert.ok(line.length < 200, `a line of ${line.length} characters`);
        assert.match(line, /: c{64}… \(10000 chars\): m$/);
      }
      call.stop();
      await call.closed;
    } finally {
      await t.close();
    }
  });
});

Deno.test("GPT-Live: a transcript fragment at an impossible time neither glues the caller's turns nor splits the agent's", async () => {
  const persona = personaSource({ model: "gpt-live-1.1", voice: "marin", instructions: "You are Sam." });
  await withPersonaDir({ "sam.ts": persona }, async (dir) => {
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "sam" },
      live: { usageIntervalMs: 0 },
    });
    try {
      const call = await t.startCall({ persona: "sam" });
      const session = await within(t.live.session(0), "the GPT-Live session");
      await session.waitFor("session.start");
      const fragment = (speaker: "input" | "output", delta: string, start: number, end: number) =>
        session.send({ type: `session.${speaker}_transcript.delta`, delta, start_ms: start, end_ms: end });
      fragment("input", "bogus ", 10, 1e308);
      fragment("input", "I need a quote", 200, 900);
      fragment("output", "Sure", 1300, 1600);
      fragment("output", " thing", 1600, 1800);
      // The caller's turn ends when the agent takes the floor; the agent's two fragments are one turn.
      await within(t.waitForLog(/User said: "I need a quote"$/), "the caller's turn, on its own");
      await within(t.waitForLog(/AI said: "Sure thing"$/), "the agent's turn, whole");
      await t.waitForLog(/Unreadable event from OpenAI: session\.input_transcript\.delta: "end_ms"/);
      assert.ok(!t.logs.some((l) => /said: "(bogus|thing)/.test(l.line)), "no glued or split turn");
      call.stop();
      await call.closed;
    } finally {
      await t.close();
    }
  });
});

const API_TOKEN = "frame-fuzz-regressions-token-0123456789";

Deno.test("softphone: a second start mid-call, naming another call or malformed, is ignored: the call goes on", async () => {
  const t = await startTestParley({ env: { API_TOKEN } });
  try {
    const cookie = await sessionCookie(t.origin, API_TOKEN);
    const url = `${t.origin.replace("http", "ws")}/api/softphone?persona=alex`;
    const socket = new WebSocket(url, { headers: { cookie, origin: t.origin } });
    const { callSid, streamSid } = await within(
      new Promise<{ callSid: string; streamSid: string }>((resolve) =>
        socket.onmessage = (e) => resolve(JSON.parse(e.data))
      ),
      "the assigned call",
    );
    socket.onmessage = null;
    let closedWith: number | undefined;
    const closed = new Promise<void>((resolve) =>
      socket.onclose = (e) => {
        closedWith = e.code;
        resolve();
      }
    );
    const start = (inner: unknown) =>
      socket.send(JSON.stringify({ event: "start", streamSid, start: inner }));
    start({ streamSid, callSid, accountSid: "", customParameters: { persona: "alex" } });
    await within(t.waitForEvent("call.started"), "the browser call started");
    const session = await within(t.upstream.session(0), "the Realtime session");

    // Mid-call: starts the relay would ignore as a second start.
    start({ streamSid: "MZother", callSid: "BRother" });
    start(null);
    start({ streamSid, callSid: 42 });
    const frame = toneBytes(20, 0x66);
    socket.send(JSON.stringify({ event: "media", streamSid, media: { payload: toBase64(frame) } }));
    await within(
      Promise.race([
        session.waitFor("input_audio_buffer.append", (e) => e.audio === toBase64(frame)),
        closed.then(() => {
          throw new Error(`Parley closed the softphone socket (${closedWith}) on a second start`);
        }),
      ]),
      "the caller's frame after the starts",
    );
    await t.waitForLog(/Ignored a malformed frame from Twilio on .*: second start message/);
    assert.equal(t.parley.activeCalls(), 1, "the call did not end");
    assert.equal(t.events.filter((e) => e.type === "call.ended").length, 0);
    socket.close();
    await closed;
  } finally {
    await t.close();
  }
});

Deno.test("GPT-Live: a usage report of impossible seconds leaves the call's minutes and cost, and the metrics, sane", async () => {
  const persona = personaSource({ model: "gpt-live-1.1", voice: "marin", instructions: "You are Sam." });
  await withPersonaDir({ "sam.ts": persona }, async (dir) => {
    const dataDir = await Deno.makeTempDir({ prefix: "parley_live_usage_" });
    const store = openCallStore(`${dataDir}/parley.db`, { onError: () => {} });
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "sam", API_TOKEN },
      store,
      live: { usageIntervalMs: 0 },
    });
    try {
      const headers = { authorization: `Bearer ${API_TOKEN}` };
      const call = await t.startCall({ persona: "sam" });
      const session = await within(t.live.session(0), "the GPT-Live session");
      await session.waitFor("session.start");
      for (const seconds of [30, 1e308, 9e18, 5e9]) {
        session.send({ type: "session.usage.updated", usage: { seconds } });
        await t.waitForEvent("usage", (e) => (e.usage as { seconds: number }).seconds === seconds);
      }
      const record = await (await fetch(`${t.origin}/api/calls/${call.callSid}`, { headers })).json();
      assert.equal(record.minutes, 0.5, "the last plausible report's minutes");
      assert.equal(record.costUsd, null, "unknown after an impossible report, not a wrong number");
      const metrics = await (await fetch(`${t.origin}/metrics`, { headers })).text();
      assert.match(metrics, /^parley_session_minutes_total\{engine="live"\} 0\.5$/m);
      assert.match(metrics, /^parley_estimated_cost_usd_total 0\.025$/m);

      // The next true report is the call's total again.
      session.send({ type: "session.usage.updated", usage: { seconds: 60 } });
      await t.waitForEvent("usage", (e) => (e.usage as { seconds: number }).seconds === 60);
      const later = await (await fetch(`${t.origin}/api/calls/${call.callSid}`, { headers })).json();
      assert.equal(later.minutes, 1);
      assert.equal(later.costUsd, 0.05);
      call.stop();
      await call.closed;
    } finally {
      await t.close();
      store.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
});
