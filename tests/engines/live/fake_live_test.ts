/**
 * The GPT-Live fake keeps its promises: it refuses what the real server refuses, answers in the
 * shapes of the types, paces audio in real time, lets the model own barge-in, and ends sessions the
 * three ways a relay must handle. Driven with Parley's own builders over a real socket.
 */

import assert from "node:assert/strict";
import {
  commentaryAppendEvent,
  functionCallOutputEvent,
  inputAudioAppendEvent,
  parseLiveEvent,
  responseCreateEvent,
  sessionCloseEvent,
} from "../../../src/engines/live/events.ts";
import { DEFAULT_LIVE_URL, sessionStartEvent } from "../../../src/engines/live/session.ts";
import { FakeLiveServer } from "../../../testing/fake_live.ts";
import { toBase64, toneBytes } from "../../../testing/fake_realtime.ts";
import { within } from "../../../testing/within.ts";
import { LiveTestClient } from "./_live_client.ts";

const START = sessionStartEvent({ voice: "marin" }, { model: "gpt-live-1.1", instructions: "Be brief." });
const LOUD = toBase64(toneBytes(20, 0x00));
const QUIET = toBase64(toneBytes(20, 0xff));

async function startedClient(live: FakeLiveServer): Promise<LiveTestClient> {
  const client = await LiveTestClient.connect(live.url);
  client.send(START);
  await client.next("session.started");
  return client;
}

Deno.test("fake GPT-Live refuses handshakes as the real server does", async (t) => {
  await using live = FakeLiveServer.start({ apiKey: "sk-right" });
  assert.equal(new URL(live.url).pathname, new URL(DEFAULT_LIVE_URL).pathname);
  const base = live.url.replace("ws:", "http:");
  const get = (url: string, key: string | null) =>
    fetch(url, { headers: key === null ? {} : { authorization: `Bearer ${key}` } });
  await t.step("no key, a wrong key, a query string, another path", async () => {
    for (
      const [url, key, status] of [
        [base, null, 401],
        [base, "sk-wrong", 401],
        [`${base}?model=gpt-live-1`, "sk-right", 400],
        [base.replace("/live/sessions", "/realtime"), "sk-right", 404],
      ] as const
    ) {
      const response = await get(url, key);
      const body = await response.json();
      assert.equal(response.status, status, url);
      assert.equal(typeof body.error.message, "string");
    }
  });
  await t.step("refuseWith answers every handshake with that status", async () => {
    for (const status of [401, 403, 404, 429]) {
      live.refuseWith = status;
      const response = await get(base, "sk-right");
      assert.equal(response.status, status);
      assert.equal(typeof (await response.json()).error.message, "string");
    }
    live.refuseWith = undefined;
  });
  await t.step("a WebSocket client sees the refusal", async () => {
    live.refuseWith = 429;
    await assert.rejects(LiveTestClient.connect(live.url, "sk-right"));
    live.refuseWith = undefined;
  });
  assert.equal(live.sessions.length, 0);
});

Deno.test("fake GPT-Live refuses audio and commands before session.started", async () => {
  await using live = FakeLiveServer.start();
  const client = await LiveTestClient.connect(live.url);
  client.send(inputAudioAppendEvent(QUIET));
  const error = await client.next("error");
  assert.equal(error.error.code, "session_not_started");
  assert.equal(error.error.type, "invalid_request_error");
  client.send(commentaryAppendEvent("Greet the caller.", { eventId: "greet_1" }));
  const second = await client.next("error", client.messages.indexOf(error) + 1);
  assert.equal(second.error.client_event_id, "greet_1");
  const session = live.sessions[0]!;
  assert.equal(session.started, false);
  assert.equal(session.audioIn.frames, 0);
  await client.close();
});

Deno.test("fake GPT-Live rejects fields and events the types do not have, and goes on", async () => {
  await using live = FakeLiveServer.start();
  const client = await LiveTestClient.connect(live.url);
  const start = JSON.parse(START);
  client.send({ ...start, session: { ...start.session, turn_detection: { type: "server_vad" } } });
  const unknown = await client.next("error");
  assert.deepEqual(
    { code: unknown.error.code, param: unknown.error.param },
    { code: "unknown_parameter", param: "session.turn_detection" },
  );
  client.send({
    ...start,
    session: { ...start.session, audio: { format: { type: "audio/pcmu", rate: 16000 } } },
  });
  await client.next("error", 1);
  assert.equal(client.all("error")[1]!.error.param, "session.audio.format.rate");
  client.send(START);
  const started = parseLiveEvent(JSON.stringify(await client.next("session.started")));
  assert.equal(started.type, "session.started");
  assert.match(started.type === "session.started" ? started.sessionId : "", /^sess_/);
  for (
    const [event, code] of [
      [{ type: "response.cancel" }, "invalid_value"],
      [{ type: "conversation.item.truncate", item_id: "x" }, "invalid_value"],
      [{ type: "session.commentary.append", content: "Hi" }, "missing_required_parameter"],
      [{ type: "session.input_audio.append", audio: "@@not base64" }, "invalid_value"],
      [{ type: "session.close", extra: 1 }, "unknown_parameter"],
      ["{not json", "invalid_json"],
      [START, "session_already_started"],
      [responseCreateEvent(), "delegation_required"],
    ] as const
  ) {
    const from = client.messages.length;
    client.send(event);
    assert.equal((await client.next("error", from)).error.code, code, JSON.stringify(event));
  }
  client.send(inputAudioAppendEvent(QUIET));
  client.send(sessionCloseEvent());
  assert.equal((await client.next("session.closed")).reason, "close_requested");
  assert.equal(live.sessions[0]!.audioIn.frames, 1);
  await client.closed;
});

Deno.test("fake GPT-Live paces agent audio in real time, with transcript positions", async () => {
  await using live = FakeLiveServer.start({ usageIntervalMs: 0 });
  const client = await startedClient(live);
  const session = live.sessions[0]!;
  const from = performance.now();
  const spoken = await within(
    session.voice.speak({ audio: toneBytes(600, 0x11), transcript: "one two three" }),
    "the utterance",
  );
  assert.deepEqual(spoken, { sentMs: 600, stopped: false });
  session.sendUsage(); // a marker: messages on one socket arrive in order
  await client.next("session.usage.updated");
  const deltas = client.all("session.output_audio.delta");
  assert.equal(deltas.length, 30);
  // Paced on a schedule from the utterance's start: the last 20 ms chunk is due 580 ms in, never sooner
  // (a first chunk sent late, on a busy machine, makes the gap between first and last shorter instead).
  const span = deltas.at(-1)!.at - from;
  assert.ok(
    span >= 580,
    `600 ms of audio went out within ${span.toFixed(0)} ms of its start: faster than real time`,
  );
  const words = client.all("session.output_transcript.delta");
  assert.equal(words.map((w) => w.delta).join(""), "one two three");
  assert.deepEqual(words.map((w) => [w.start_ms - words[0]!.start_ms, w.end_ms - words[0]!.start_ms]), [
    [0, 200],
    [200, 400],
    [400, 600],
  ]);
  await client.close();
});

Deno.test("fake GPT-Live keeps talking over the caller unless scripted to yield", async (t) => {
  for (const yieldAfter of [undefined, 100]) {
    await t.step(`yieldToCallerAfterMs = ${yieldAfter}`, async () => {
      await using live = FakeLiveServer.start({
        usageIntervalMs: 0,
        ...(yieldAfter === undefined ? {} : { yieldToCallerAfterMs: yieldAfter }),
      });
      const client = await startedClient(live);
      const session = live.sessions[0]!;
      const speech = session.voice.speak({ audio: toneBytes(400, 0x11), speed: 4 });
      for (let i = 0; i < 10; i++) client.send(inputAudioAppendEvent(LOUD));
      const result = await within(speech, "the utterance");
      assert.equal(result.stopped, yieldAfter !== undefined);
      if (yieldAfter !== undefined) assert.ok(result.sentMs < 400);
      await client.close();
    });
  }
});

Deno.test("fake GPT-Live hears a caller turn, transcribes it on the timeline and answers", async () => {
  await using live = FakeLiveServer.start({
    usageIntervalMs: 0,
    silenceMs: 200,
    callerTurns: [{ transcript: "I need help", answer: { audio: toneBytes(100, 0x22), transcript: "Sure" } }],
  });
  const client = await startedClient(live);
  for (let i = 0; i < 15; i++) client.send(inputAudioAppendEvent(LOUD));
  for (let i = 0; i < 10; i++) client.send(inputAudioAppendEvent(QUIET));
  await client.next("session.output_transcript.delta");
  const heard = client.all("session.input_transcript.delta");
  assert.equal(heard.map((d) => d.delta).join(""), "I need help");
  assert.ok(heard.every((d) => d.end_ms >= d.start_ms));
  assert.ok(heard[0]!.start_ms <= heard.at(-1)!.end_ms);
  assert.ok(client.all("session.output_audio.delta").length > 0);
  await client.close();
});

Deno.test("fake GPT-Live greets after a commentary instruction and reports usage", async () => {
  await using live = FakeLiveServer.start({ usageIntervalMs: 50, greeting: { audio: toneBytes(60, 0x33) } });
  const client = await startedClient(live);
  client.send(commentaryAppendEvent("Greet the caller warmly."));
  await client.next("session.commentary.appended");
  await client.next("session.output_audio.delta");
  const usage = await client.next("session.usage.updated");
  assert.equal(typeof usage.usage.seconds, "number");
  await client.close();
});

Deno.test("fake GPT-Live runs a delegated tool call to its answer", async () => {
  await using live = FakeLiveServer.start({ usageIntervalMs: 0 });
  const client = await LiveTestClient.connect(live.url);
  client.send(sessionStartEvent({ voice: "cedar" }, {
    model: "gpt-live-1",
    instructions: "Help.",
    delegation: { model: "gpt-5.5", tools: [{ name: "lookup", parameters: { type: "object" } }] },
  }));
  await client.next("session.started");
  const session = live.sessions[0]!;
  const callId = session.voice.callFunction("lookup", { id: 7 });
  const call = parseLiveEvent(JSON.stringify(await client.next("response.event")));
  assert.deepEqual(call, {
    type: "response.function_call",
    delegationId: "deleg_fake1",
    callId,
    name: "lookup",
    arguments: '{"id":7}',
  });
  client.send(functionCallOutputEvent("call_nobody", "{}"));
  assert.equal((await client.next("error")).error.code, "unknown_call_id");
  client.send(functionCallOutputEvent(callId, '{"found":true}'));
  client.send(responseCreateEvent());
  await session.waitFor("response.create");
  assert.equal(session.voice.pendingCalls.size, 0);
  assert.equal(session.errorsSent.length, 1);
  await client.close();
});

Deno.test("fake GPT-Live ends a session three ways: close, expiry, drop", async (t) => {
  await using live = FakeLiveServer.start({ usageIntervalMs: 0 });
  await t.step("session.close gets session.closed, then a normal close", async () => {
    const client = await startedClient(live);
    client.send(sessionCloseEvent({ eventId: "bye" }));
    const closed = await client.next("session.closed");
    assert.deepEqual([closed.reason, closed.client_event_id, typeof closed.usage.seconds], [
      "close_requested",
      "bye",
      "number",
    ]);
    assert.equal((await client.closed).code, 1000);
  });
  await t.step("the server's own end says why", async () => {
    const client = await startedClient(live);
    live.sessions.at(-1)!.closeSession("expired");
    assert.equal((await client.next("session.closed")).reason, "expired");
    await client.closed;
  });
  await t.step("a dropped connection has no session.closed", async () => {
    const client = await startedClient(live);
    live.sessions.at(-1)!.drop();
    assert.equal((await client.closed).code, 1011);
    assert.equal(client.all("session.closed").length, 0);
  });
});

Deno.test("fake GPT-Live in bench mode counts caller frames without keeping them, and still checks them", async () => {
  const heard: string[] = [];
  await using live = FakeLiveServer.start({
    usageIntervalMs: 0,
    recordAudio: false,
    onCallerAudio: (payload) => heard.push(payload),
  });
  const client = await startedClient(live);
  const session = live.sessions[0]!;
  for (let i = 0; i < 5; i++) client.send(inputAudioAppendEvent(QUIET));
  client.send('{"type":"session.input_audio.append","audio":"no good"}');
  assert.equal((await client.next("error")).error.param, "audio");
  assert.deepEqual(heard, Array(5).fill(QUIET));
  assert.deepEqual(session.audioIn, { frames: 5, bytes: 800 });
  assert.equal(session.eventsOf("session.input_audio.append").length, 1, "only the refused one is kept");
  assert.equal(session.sendAudioDelta(LOUD), true);
  assert.equal((await client.next("session.output_audio.delta")).delta, LOUD);
  await client.close();
});
