/**
 * End to end on GPT-Live, through the fake Twilio and the GPT-Live fake over real sockets: greeting,
 * audio both ways untouched, transcripts logged and recorded, minutes and cost, a clean close, a
 * refused key, and no stale audio when the model gives way to the caller.
 */

import assert from "node:assert/strict";
import { toBase64, toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";
import { ENGINE_REGISTRY } from "../../src/engines/registry.ts";

const LIVE_PERSONA = personaSource({
  model: "gpt-live-1.1",
  voice: "marin",
  instructions: "You are Sam. Keep answers short.",
  greeting: "Greet the caller warmly and ask how you can help.",
});

/** A caller frame of speech (loud) or silence, 20 ms. */
const SPEECH = toneBytes(20, 0x10);
const SILENCE = toneBytes(20, 0xff);

Deno.test("a GPT-Live call greets, relays untouched, logs and records turns, costs by the minute, closes cleanly", async () => {
  await withPersonaDir({ "sam.ts": LIVE_PERSONA }, async (dir) => {
    const dataDir = await Deno.makeTempDir();
    const store = openCallStore(`${dataDir}/parley.db`);
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "sam", METRICS_PUBLIC: "on" },
      store,
      live: {
        greeting: { audio: toneBytes(400, 0x21), transcript: "Hello, this is Sam." },
        callerTurns: [{
          transcript: "I need a quote.",
          answer: { audio: toneBytes(300, 0x22), transcript: "Sure, for what?" },
        }],
        silenceMs: 200,
        usageIntervalMs: 200,
      },
    });
    try {
      const call = await t.startCall({ persona: "sam" });
      const session = await within(t.live.session(0), "the GPT-Live session");
      const start = await session.waitFor("session.start");
      assert.equal(start.session.model, "gpt-live-1.1");
      assert.deepEqual(start.session.audio, {
        format: { type: "audio/pcmu", rate: 8000 },
        output: { voice: "marin" },
      });
      assert.equal(start.session.instructions, "You are Sam. Keep answers short.");
      const greet = await session.waitFor("session.commentary.append");
      assert.equal(greet.content, "Greet the caller warmly and ask how you can help.");
      assert.equal(greet.delegation_id, null);
      await within(
        t.waitForLog(new RegExp(`Session configured \\(session ${session.sessionId}\\)`)),
        "session id log",
      );

      // The greeting reaches the caller byte-exact and is heard (to its end: the echo of its last mark).
      await within(t.waitForLog(/AI said: "Hello, this is Sam\."/), "the greeting's transcript", 8000);
      const greetingEnd = await within(
        call.waitFor("mark", (m) => m.mark.name.endsWith(":400")),
        "its end mark",
      );
      await within(call.waitForEcho(greetingEnd.mark.name), "the greeting played to its end");
      assert.equal(call.heardMsOf(0x21), 400);

      // The caller speaks; the frames reach GPT-Live untouched, in order.
      await sendFrames(call, { frame: SPEECH, forMs: 300 });
      await sendFrames(call, { frame: SILENCE, forMs: 400 });
      await within(t.waitForLog(/User said: "I need a quote\."/), "the caller's turn", 8000);
      await within(t.waitForLog(/AI said: "Sure, for what\?"/), "the answer's transcript", 8000);
      const greetingItem = greetingEnd.mark.name.slice(0, -":400".length);
      const answerEnd = await within(
        call.waitFor(
          "mark",
          (m) => m.mark.name.endsWith(":300") && !m.mark.name.startsWith(`${greetingItem}:`),
        ),
        "the answer's end mark",
      );
      await within(call.waitForEcho(answerEnd.mark.name), "the answer played to its end");
      assert.equal(call.heardMsOf(0x22), 300);
      assert.equal(
        call.messagesOf("clear").length,
        0,
        "audio paced in real time leaves nothing stale to clear",
      );
      const latency = await within(t.waitForEvent("turn.latency"), "turn latency");
      assert.ok(
        latency.firstAudioHeardMs !== undefined && latency.firstAudioHeardMs >= 0,
        "heard latency measured",
      );
      assert.ok(
        session.errorsSent.length === 0,
        `GPT-Live refused nothing: ${JSON.stringify(session.errorsSent)}`,
      );
      assert.ok(session.audioIn.frames >= 30, "caller frames reached GPT-Live");
      const appended = session.eventsOf("session.input_audio.append").map((e) => e.audio);
      assert.equal(appended.length, 35, "every caller frame, once");
      assert.deepEqual(
        [...new Set(appended)].sort(),
        [toBase64(SPEECH), toBase64(SILENCE)].sort(),
        "payloads untouched",
      );
      await within(
        t.waitForEvent(
          "usage",
          (e) => e.engine === "live" && (ENGINE_REGISTRY.describeUsage(e.engine, e.usage).minutes ?? 0) > 0,
        ),
        "usage in minutes",
      );

      call.stop();
      await within(session.waitFor("session.close"), "session.close");
      await within(session.closed, "the GPT-Live socket closing");
      await within(t.waitForLog(/Call ended: CallSid=\S+ reason=caller_hung_up/), "the end");

      const record = (await store.getCall(call.callSid))!;
      assert.equal(record.engine, "live");
      assert.equal(record.model, "gpt-live-1.1");
      assert.deepEqual(record.transcript.map((turn) => [turn.speaker, turn.text]), [
        ["agent", "Hello, this is Sam."],
        ["caller", "I need a quote."],
        ["agent", "Sure, for what?"],
      ]);
      // Each line says when it began (its timeline's start_ms), before its text came.
      for (const line of record.transcript) {
        assert.ok(
          line.spokenAt !== null && line.spokenAt >= record.startedAt! - 1_000 && line.spokenAt <= line.at,
          `${line.text}: spoken ${line.spokenAt}, text ${line.at}, call from ${record.startedAt}`,
        );
      }
      assert.ok(record.minutes > 0);
      assert.equal(record.costUsd, Math.round(record.minutes * 0.05 * 1e6) / 1e6);
      assert.equal(t.upstream.sessions.length, 0, "no Realtime session was opened for a GPT-Live persona");

      const metrics = await (await fetch(`${t.origin}/metrics`)).text();
      assert.match(metrics, /^parley_calls_started_total\{engine="live"\} 1$/m);
      const minutes = Number(/^parley_session_minutes_total\{engine="live"\} (\S+)$/m.exec(metrics)?.[1]);
      assert.ok(
        Math.abs(minutes - record.minutes) < 1e-9,
        `metrics minutes ${minutes} = record ${record.minutes}`,
      );
      const cost = Number(
        /^parley_engine_estimated_cost_usd_total\{engine="live"\} (\S+)$/m.exec(metrics)?.[1],
      );
      assert.ok(Math.abs(cost - record.costUsd!) < 1e-9);
    } finally {
      await t.close();
      store.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
});

Deno.test("GPT-Live: when the model gives way to the caller, the audio it left at Twilio is cleared", async () => {
  await withPersonaDir({ "sam.ts": LIVE_PERSONA }, async (dir) => {
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "sam" },
      live: {
        // A server that runs 0.8 s ahead of playback: Twilio holds that much when the model yields.
        greeting: {
          audio: toneBytes(4000, 0x31),
          transcript:
            "Hello there, this is a long greeting with many words in it, so the transcript keeps pace.",
          leadMs: 800,
        },
        callerTurns: [{ transcript: "Wait, stop." }],
        yieldToCallerAfterMs: 100,
        silenceMs: 200,
      },
    });
    try {
      const call = await t.startCall({ persona: "sam" });
      await within(call.waitForEcho("live_answer_1:0"), "the greeting playing");
      await sendFrames(call, { frame: SILENCE, forMs: 1000 }); // listening
      await sendFrames(call, { frame: SPEECH, forMs: 300 });
      await sendFrames(call, { frame: SILENCE, forMs: 300 });
      const stopped = await within(t.waitForEvent("agent.stopped"), "the model stopping");
      assert.ok(stopped.unplayedMs > 200, `Twilio still held ${stopped.unplayedMs} ms`);
      await within(call.waitFor("clear"), "clear");
      const line = await t.waitForLog(
        /Caller interrupted: the agent stopped; cleared the rest of live_answer_1/,
      );
      assert.match(line, /at \d+ of \d+ ms sent/);
      assert.ok(call.heardMsOf(0x31) < 3000, "the rest of the greeting was not played");
      await within(t.waitForLog(/User said: "Wait, stop\."/), "the caller's words");
      const session = t.live.sessions[0]!;
      assert.deepEqual(
        session.received.filter((e) => !e.type.startsWith("session.input_audio")).map((e) => e.type),
        [
          "session.start",
          "session.commentary.append",
        ],
        "no truncate or cancel: GPT-Live has none",
      );
      call.stop();
      await within(t.waitForLog(/Call ended/), "the end");
    } finally {
      await t.close();
    }
  });
});

Deno.test("GPT-Live: refusals and a session the server ends are explained in plain words", async (t) => {
  const cases: {
    name: string;
    setup: (live: import("../../testing/fake_live.ts").FakeLiveServer) => void;
    line: RegExp;
  }[] = [
    {
      name: "a refused key (401)",
      setup: (live) => live.refuseWith = 401,
      line: /reason=upstream_refused \(OpenAI refused the API key \(401\): check OPENAI_API_KEY\)/,
    },
    {
      name: "no access (403)",
      setup: (live) => live.refuseWith = 403,
      line:
        /reason=upstream_refused \(OpenAI refused access \(403\): the key's project may not have GPT-Live access\)/,
    },
    {
      name: "a wrong URL (404)",
      setup: (live) => live.refuseWith = 404,
      line: /reason=upstream_refused \(OpenAI answered 404: check the persona's model and OPENAI_LIVE_URL\)/,
    },
    {
      name: "out of quota (429)",
      setup: (live) => live.refuseWith = 429,
      line: /reason=upstream_refused \(OpenAI is rate limiting or the account is out of quota \(429\)/,
    },
  ];
  for (const { name, setup, line } of cases) {
    await t.step(name, async () => {
      await withPersonaDir({ "sam.ts": LIVE_PERSONA }, async (dir) => {
        const parley = await startTestParley({ personasDir: dir, env: { DEFAULT_PERSONA: "sam" } });
        try {
          setup(parley.live);
          const call = await parley.startCall({ persona: "sam" });
          await within(parley.waitForLog(line), name);
          await within(call.closed, "the Twilio socket closing, so the fallback plays");
          assert.equal(parley.live.handshakes.length, 1, "no retry");
        } finally {
          await parley.close();
        }
      });
    });
  }

  await t.step("the server ending the session (expired) when no new one can be opened", async () => {
    await withPersonaDir({ "sam.ts": LIVE_PERSONA }, async (dir) => {
      const parley = await startTestParley({ personasDir: dir, env: { DEFAULT_PERSONA: "sam" } });
      try {
        const call = await parley.startCall({ persona: "sam" });
        const session = await within(parley.live.session(0), "the session");
        await within(session.waitFor("session.commentary.append"), "the session started");
        // Pre-warmed on the webhook: end it once the stream has started (before, a fresh one opens).
        await within(parley.waitForLog(/Session configured/), "the stream started");
        parley.live.refuseWith = 429;
        session.closeSession("expired");
        await within(
          parley.waitForLog(
            /reason=upstream_dropped \(GPT-Live ended the session: it reached its time limit; no new session after \d+ tries/,
          ),
          "the end, in plain words",
        );
        await within(call.closed, "the Twilio socket closing");
      } finally {
        await parley.close();
      }
    });
  });
});
