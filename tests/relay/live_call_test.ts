/**
 * End to end on GPT-Live, through the fake Twilio and the GPT-Live fake over real sockets: greeting,
 * audio both ways untouched, transcripts logged and recorded, minutes and cost, a clean close. No stale
 * audio when the model gives way to the caller: live_barge_in_test.ts; refusals and a session the
 * server ends: live_refusals_test.ts.
 */

import assert from "node:assert/strict";
import { toBase64, toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";
import { ENGINE_REGISTRY } from "../../src/engines/registry.ts";
import { LIVE_PERSONA, SILENCE, SPEECH } from "./_live_call.ts";

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
      // GPT-Live's answer ends at a pause in its audio (ANSWER_GAP_MS): when the fake's real-time pacing
      // stalls that long under load, the answer comes as two runs, each marked to its end. Each of the
      // answer's marks in turn, until Twilio echoed one with all 300 ms of it played.
      const echoed = new Set<string>();
      const answerPlayed = async () => {
        while (call.heardMsOf(0x22) < 300) {
          const mark = await call.waitFor(
            "mark",
            (m) => !m.mark.name.startsWith(`${greetingItem}:`) && !echoed.has(m.mark.name),
          );
          echoed.add(mark.mark.name);
          await call.waitForEcho(mark.mark.name);
        }
      };
      await within(answerPlayed(), "the answer played to its end");
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
