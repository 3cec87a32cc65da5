/**
 * The core call path over real sockets: Twilio fake → Parley → Realtime fake and back.
 */

import assert from "node:assert/strict";
import { fromBase64, toBase64, toneBytes } from "../../testing/fake_realtime.ts";
import { newCallSid, startTestParley, TEST_OPENAI_KEY } from "../../testing/parley_harness.ts";

const TESTDATA_PERSONAS = new URL("../testdata/personas/", import.meta.url).pathname;
const testEnv = { DEFAULT_PERSONA: "tester" };

Deno.test("relay sends the persona's session.update, then the greeting, then caller audio byte-exact", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  try {
    t.upstream.answerSessionUpdate = false; // nothing may wait for session.updated
    const call = await t.startCall({ persona: "tester", lead: "Dana" });
    const session = await t.upstream.session(0);
    const frames = [1, 2, 3, 4, 5].map((n) => new Uint8Array(160).fill(n));
    for (const frame of frames) call.sendMedia(frame);
    await session.waitFor("input_audio_buffer.append", (e) => e.audio === toBase64(frames[4]!));

    assert.deepEqual(new URL(session.url).searchParams.get("model"), "gpt-realtime-2.1");
    assert.equal(t.upstream.handshakes[0]!.authorization, `Bearer ${TEST_OPENAI_KEY}`);
    const types = session.received.map((e) => e.type);
    assert.deepEqual(types, [
      "session.update",
      "response.create",
      ...frames.map(() => "input_audio_buffer.append"),
    ]);
    const instructions = `You are testing. Lead: Dana. Call: ${call.callSid}.`;
    const { at: _at, ...update } = session.received[0]!;
    assert.deepEqual(update, {
      type: "session.update",
      session: {
        type: "realtime",
        model: "gpt-realtime-2.1",
        output_modalities: ["audio"],
        instructions,
        audio: {
          input: {
            format: { type: "audio/pcmu" },
            transcription: { model: "gpt-4o-transcribe" },
            noise_reduction: { type: "far_field" },
            turn_detection: {
              type: "server_vad",
              threshold: 0.6,
              prefix_padding_ms: 300,
              silence_duration_ms: 450,
              create_response: true,
              interrupt_response: true,
            },
          },
          output: { format: { type: "audio/pcmu" }, voice: "coral" },
        },
        max_output_tokens: 800,
      },
    });
    assert.deepEqual(session.received[1]!.response, { instructions: `${instructions}\n\nSay hello first.` });
    assert.deepEqual(
      session.eventsOf("input_audio_buffer.append").map((e) => e.audio),
      frames.map(toBase64),
    );
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("relay passes agent audio to Twilio byte-exact, marked at least every 100 ms and at its end", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("response.create");
    // 40 ms deltas (320 bytes), 13 of them: 520 ms in all.
    const audio = Uint8Array.from({ length: 4160 }, (_, i) => (i * 7) % 256);
    await session.streamResponse({
      responseId: "resp_1",
      itemId: "item_1",
      audio,
      chunkBytes: 320,
      intervalMs: 2,
    });
    session.send({ type: "response.output_audio.done", response_id: "resp_1", item_id: "item_1" });
    await call.waitFor("mark", (m) => m.mark.name === "item_1:520");

    const sent = call.received;
    assert.ok(sent.every((m) => ["media", "mark", "clear"].includes(m.event)), "only media, mark, clear");
    assert.ok(sent.every((m) => m.streamSid === call.streamSid));
    const media = call.messagesOf("media");
    assert.equal(media.length, 13);
    const received = new Uint8Array(media.flatMap((m) => [...fromBase64(m.media.payload)]));
    assert.deepEqual(received, audio);
    // A start mark, then an end mark once 100 ms are unmarked, and one for the tail when the audio is done.
    const m = (ms: number) => `mark item_1:${ms}`;
    assert.deepEqual(
      sent.map((msg) => msg.event === "mark" ? `mark ${msg.mark.name}` : msg.event),
      [
        m(0),
        ...["media", "media", "media", m(120)],
        ...["media", "media", "media", m(240)],
        ...["media", "media", "media", m(360)],
        ...["media", "media", "media", m(480)],
        ...["media", m(520)],
      ],
    );
    call.close();
  } finally {
    await t.close();
  }
});

Deno.test("an agent delta of 100 ms or more gets its own mark", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("response.create");
    await session.streamResponse({ responseId: "r", itemId: "i", audio: toneBytes(300, 1), chunkBytes: 800 });
    await call.waitFor("mark", (msg) => msg.mark.name === "i:300");
    assert.deepEqual(
      call.received.map((msg) => msg.event === "mark" ? msg.mark.name : msg.event),
      ["i:0", "media", "i:100", "media", "i:200", "media", "i:300"],
    );
    call.close();
  } finally {
    await t.close();
  }
});

Deno.test("relay logs the seed's monitoring lines for a call", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await t.waitForLog(/Session configured/);
    session.send({
      type: "conversation.item.input_audio_transcription.completed",
      item_id: "item_c1",
      content_index: 0,
      transcript: "Is this a good time?",
    });
    await session.streamResponse({
      responseId: "resp_1",
      itemId: "item_a1",
      audio: toneBytes(100, 9),
      transcript: "Yes, it is.",
    });
    await t.waitForLog(/AI said/);
    call.stop();
    await t.waitForLog(/Call ended/);
    const lines = t.logs.map((l) => l.line);
    const expected = [
      /^\[Realtime\] New Twilio connection: c\d+$/,
      new RegExp(`^\\[Realtime\\] Stream started: CallSid=${call.callSid}$`),
      new RegExp(`^\\[Realtime\\] Connected to OpenAI for CallSid=${call.callSid}$`),
      /^\[Realtime\] Session configured$/,
      /^\[Realtime\] User said: "Is this a good time\?"$/,
      /^\[Realtime\] AI said: "Yes, it is\."$/,
      new RegExp(
        `^\\[Realtime\\] Call ended: CallSid=${call.callSid} reason=caller_hung_up \\(Twilio sent stop\\)$`,
      ),
    ];
    let index = 0;
    for (const line of lines) if (index < expected.length && expected[index]!.test(line)) index++;
    assert.equal(index, expected.length, `log lines in order, got:\n${lines.join("\n")}`);
    assert.ok(!lines.some((l) => l.includes(TEST_OPENAI_KEY)), "the API key never appears in logs");
    await session.closed;
  } finally {
    await t.close();
  }
});

Deno.test("caller frames sent while the upstream opens are queued in order behind session.update", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  try {
    let release!: () => void;
    t.upstream.holdHandshake = new Promise((resolve) => release = resolve);
    const call = await t.startCall({ persona: "tester" });
    const frames = Array.from({ length: 25 }, (_, n) => new Uint8Array(160).fill(n + 1));
    for (const frame of frames) call.sendMedia(frame);
    await t.waitForLog(/Stream started/);
    assert.equal(t.upstream.sessions.length, 0, "upstream still opening");
    // A sentinel frame after the queue: once the fake has it, Parley has read every frame before it.
    const sentinel = new Uint8Array(160).fill(200);
    call.sendMedia(sentinel);
    await t.waitForEvent("call.started");
    release();
    const session = await t.upstream.session(0);
    await session.waitFor("input_audio_buffer.append", (e) => e.audio === toBase64(sentinel));
    assert.deepEqual(session.received.map((e) => e.type).slice(0, 2), ["session.update", "response.create"]);
    assert.deepEqual(
      session.eventsOf("input_audio_buffer.append").map((e) => e.audio),
      [...frames, sentinel].map(toBase64),
    );
    call.close();
  } finally {
    await t.close();
  }
});

Deno.test("Twilio stop closes the upstream at once", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("session.update");
    call.stop();
    await session.closed;
    const ended = await t.waitForEvent("call.ended");
    assert.equal(ended.reason, "caller_hung_up");
    assert.equal(await call.closed, 1000);
    assert.equal(t.parley.activeCalls(), 0);
  } finally {
    await t.close();
  }
});

Deno.test("an upstream that drops mid-call and cannot be reopened closes the Twilio socket so the fallback plays", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await t.waitForLog(/Session configured/);
    t.upstream.refuseWith = 503;
    session.close(1011, "server error");
    // Twilio keeps streaming until it sees the close: frames that arrive while closing are ignored.
    const ended = t.waitForEvent("call.ended");
    for (let i = 0; i < 200 && !call.received.some(() => false); i++) {
      call.sendMedia(new Uint8Array(160).fill(i));
    }
    await ended;
    for (let i = 0; i < 50; i++) call.sendMedia(new Uint8Array(160).fill(i));
    await call.closed;
    const line = await t.waitForLog(/Call ended/);
    assert.match(
      line,
      /reason=upstream_dropped \(OpenAI closed the connection \(1011 server error\); no new session after \d+ tries: /,
    );
  } finally {
    await t.close();
  }
});

Deno.test("a refused API key ends the call with a plain-words reason and no retry", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  try {
    t.upstream.refuseWith = 401;
    const call = await t.startCall({ persona: "tester" });
    await call.closed;
    const line = await t.waitForLog(/Call ended/);
    assert.match(
      line,
      /reason=upstream_refused \(OpenAI refused the API key \(401\): check OPENAI_API_KEY\)/,
    );
    assert.equal(t.upstream.handshakes.length, 1, "a 401 is not retried");
    assert.ok(!t.logs.some((l) => l.line.includes(TEST_OPENAI_KEY)));
  } finally {
    await t.close();
  }
});

Deno.test("a persona with its own model gets a session for that model", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  try {
    const call = await t.startCall({ persona: "quiet" });
    const session = await t.upstream.session(0); // pre-warmed on the webhook for its persona
    const update = await session.waitFor("session.update");
    assert.equal(new URL(session.url).searchParams.get("model"), "gpt-realtime-2.1-mini");
    assert.equal(update.session.model, "gpt-realtime-2.1-mini");
    assert.deepEqual(update.session.audio.input.turn_detection, {
      type: "semantic_vad",
      eagerness: "high",
      create_response: true,
      interrupt_response: false,
    });
    assert.equal(session.eventsOf("response.create").length, 0, "no greeting: the caller speaks first");
    assert.equal(
      t.upstream.sessions.length,
      1,
      "no speculative default-model socket: the webhook knew the persona",
    );
    call.close();
  } finally {
    await t.close();
  }
});

Deno.test("a media socket that never sends start is closed after the timeout", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv, startTimeoutMs: 200 });
  try {
    const call = await t.connectStream(await t.answerWebhook(newCallSid()));
    await call.closed;
    assert.ok(await t.waitForLog(/reason=no_start \(no start message within 200 ms\)/));
  } finally {
    await t.close();
  }
});

Deno.test("OpenAI error events are logged with their code and message; the call goes on", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("session.update");
    session.send({
      type: "error",
      error: {
        type: "invalid_request_error",
        code: "invalid_value",
        message: "Invalid 'audio_end_ms'.",
        event_id: "e1",
      },
    });
    const line = await t.waitForLog(/OpenAI error/);
    assert.equal(
      line,
      `[Realtime] OpenAI error for CallSid=${call.callSid}: invalid_value: Invalid 'audio_end_ms'.`,
    );
    session.send({
      type: "error",
      error: { type: "invalid_request_error", code: "session_expired", message: "Expired" },
    });
    // The 60-minute cap: a new session takes over (tests/relay/reconnect_test.ts has the details).
    assert.match(
      await t.waitForLog(/Upstream lost/),
      /: the OpenAI session reached its 60-minute limit; reconnecting/,
    );
    await t.upstream.session(1);
    await t.waitForEvent("reconnected");
    assert.equal(t.events.filter((e) => e.type === "call.ended").length, 0);
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});
