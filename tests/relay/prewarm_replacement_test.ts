/**
 * Pre-warm sessions replaced (the README's "First word"), through real sockets: once claimed, a drop
 * or a stall replaces the session from the same plan (no second greeting); before its claim, a
 * replacement pre-warm for the same CallSid lives its own TTL.
 */

import assert from "node:assert/strict";
import { FakeRealtimeServer, toneBytes } from "../../testing/fake_realtime.ts";
import {
  newCallSid,
  startTestParley,
  TEST_OPENAI_KEY,
  TEST_PERSONAS_DIR,
} from "../../testing/parley_harness.ts";
import { loadConfig } from "../../src/config.ts";
import { createEngineChooser } from "../../src/engines/registry.ts";
import { connectOpenAI } from "../../src/engines/upstream_socket.ts";
import { createLogger } from "../../src/log.ts";
import { createPersonaRegistry, loadPersonas } from "../../src/personas/loader.ts";
import { Prewarms } from "../../src/relay/prewarm.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";
import { ENGINES, GREETS, realtime, scrape, withParley } from "./_prewarm.ts";

Deno.test("Realtime: a claimed pre-warm that drops is replaced from the same plan, with no second greeting", async () => {
  await withParley(ENGINES[0]!, GREETS, async (t) => {
    const callSid = newCallSid();
    const streamUrl = await t.answerWebhook(callSid);
    await within(ENGINES[0]!.greetingAsked(t, 0), "the greeting asked for on the webhook");
    await within(ENGINES[0]!.greet(t, 0, 300), "the greeting held");
    const call = await t.connectStream(streamUrl, callSid);
    call.start({ persona: "sam" });
    await within(call.waitFor("media"), "the held greeting at Twilio");
    assert.match(await scrape(t), /^parley_prewarm_total\{outcome="claimed"\} 1$/m);

    const first = realtime(t, 0);
    first.drop();
    const second = await within(t.upstream.session(1), "the new session", 2000);
    await sendFrames(call, {
      frame: toneBytes(20, 0x10),
      until: within(second.waitFor("input_audio_buffer.append"), "caller audio again", 2000),
    });
    const update = second.received[0]!;
    assert.equal(update.type, "session.update");
    assert.equal(update.session.instructions, first.received[0]!.session.instructions);
    assert.equal(update.session.audio.output.voice, "marin");
    assert.equal(second.eventsOf("response.create").length, 0, "no second greeting");
    assert.equal((await t.waitForEvent("reconnected")).cause, "dropped");
    call.stop();
    await within(t.waitForLog(/Call ended/), "the end");
  });
});

Deno.test("Realtime: a claimed pre-warm that goes silent while it owes an answer is replaced (stall)", async () => {
  const source = personaSource({ model: "gpt-realtime-2.1", voice: "marin", instructions: "Be brief." });
  await withPersonaDir({ "sam.ts": source }, async (dir) => {
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "sam", INBOUND_PERSONA: "sam", METRICS_PUBLIC: "on" },
      stallMs: 1500,
    });
    try {
      const callSid = newCallSid();
      const streamUrl = await t.answerWebhook(callSid);
      const prewarmed = await within(t.upstream.session(0), "the pre-warmed session");
      const call = await t.connectStream(streamUrl, callSid);
      call.start({ persona: "sam" });
      await within(t.waitForLog(/Stream started/), "the start");
      assert.match(await scrape(t), /^parley_prewarm_total\{outcome="claimed"\} 1$/m);
      const reconnected = t.waitForEvent("reconnected");
      // The caller's turn is committed: an answer is owed, and none comes.
      prewarmed.speechStarted();
      prewarmed.speechStopped();
      await sendFrames(call, {
        frame: toneBytes(20, 0x10),
        until: within(reconnected, "the stall noticed", 5000),
      });
      assert.equal((await reconnected).cause, "stalled");
      assert.equal(t.upstream.sessions.length, 2);
      call.stop();
      await within(t.waitForLog(/Call ended/), "the end");
    } finally {
      await t.close();
    }
  });
});

Deno.test("a replacement pre-warm lives its own TTL: the one it replaced does not close it early", async () => {
  const upstream = FakeRealtimeServer.start();
  const lines: string[] = [];
  const config = loadConfig({
    OPENAI_API_KEY: TEST_OPENAI_KEY,
    OPENAI_REALTIME_URL: upstream.url,
    PERSONAS_DIR: TEST_PERSONAS_DIR,
    DEFAULT_PERSONA: "tester",
    INBOUND_PERSONA: "tester",
  });
  const personas = createPersonaRegistry(await loadPersonas(TEST_PERSONAS_DIR));
  const ttlMs = 300;
  const prewarms = new Prewarms({
    log: createLogger({ sink: (_level, line) => lines.push(line) }),
    setup: {
      personas,
      defaultPersona: "tester",
      defaultModel: config.realtimeModel,
      engineFor: createEngineChooser(config.engineEndpoints),
    },
    apiKey: TEST_OPENAI_KEY,
    connect: connectOpenAI,
    ttlMs,
  });
  try {
    const callSid = newCallSid();
    prewarms.openForWebhook(callSid, { persona: "tester" });
    await upstream.session(0);
    // The replacement comes well into the first one's lifetime (the gap is the scenario).
    await new Promise((resolve) => setTimeout(resolve, 150));
    const replacedAt = performance.now();
    prewarms.openForWebhook(callSid, { persona: "tester" });
    await within(upstream.sessions[0]!.closed, "the replaced session to close");
    const replacement = await upstream.session(1);
    await within(replacement.closed, "the replacement to expire");
    const lived = performance.now() - replacedAt;
    assert.ok(lived >= ttlMs - 1, `the replacement lived ${Math.round(lived)} ms, under its ${ttlMs} ms`);
    assert.equal(prewarms.outcomes.expired, 1);
    assert.equal(lines.filter((l) => /not claimed within 0\.3 s/.test(l)).length, 1);
  } finally {
    await prewarms.close();
    await upstream.close();
  }
});
