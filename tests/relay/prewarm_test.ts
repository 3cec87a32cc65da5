/**
 * Pre-warm (the README's "First word"), on both engines through real sockets: the session opened on
 * the voice webhook holds the greeting until the stream starts, then plays it at once with its marks
 * (barge-in over it truncates at what was heard); an unclaimed one expires without a call record; a
 * start for another CallSid cannot take it; a start that configures differently gets a fresh session;
 * `prewarm: false` opens on the socket as before. A claimed pre-warm replaced after a drop or a stall,
 * and a pre-warm replaced before its claim: prewarm_replacement_test.ts; when a pre-warmed call is
 * planned: prewarm_plan_test.ts.
 */

import assert from "node:assert/strict";
import { newCallSid } from "../../testing/parley_harness.ts";
import { assertCutAtHeard } from "../../testing/cut_checks.ts";
import { watchLoopLag } from "../../testing/loop_lag.ts";
import { within } from "../../testing/within.ts";
import { ENGINES, GREETING_BYTE, GREETS, scrape, withParley } from "./_prewarm.ts";

/**
 * The held greeting's first frame reaches Twilio this soon after `start`: no upstream round trip in
 * between. The 20 ms target is measured by the bench's first-word scenario (`deno task bench`);
 * here the bound only has to tell "sent from what was held" from "asked for again" on a loaded machine
 * (the suite runs twelve files at a time on two cores), with nothing upstream left to wait for.
 */
const FIRST_WORD_MS = 150;

for (const engine of ENGINES) {
  Deno.test(`${engine.name}: a pre-warmed greeting reaches Twilio at start, and barge-in over it truncates at what was heard`, async () => {
    await withParley(engine, GREETS, async (t) => {
      const callSid = newCallSid();
      const streamUrl = await t.answerWebhook(callSid);
      // Twilio has not connected yet: the session is open and configured, the greeting asked for.
      await within(engine.greetingAsked(t, 0), "the greeting asked for on the webhook");
      const call = await t.connectStream(streamUrl, callSid);
      call.connected();
      // The whole greeting arrives (and is held) before Twilio sends `start`.
      await within(engine.greet(t, 0, 3000), "the greeting streamed before start");
      const startLag = watchLoopLag();
      const startAt = performance.now();
      call.start({ persona: "sam" });
      let first, stalledMs;
      try {
        first = await within(call.waitFor("media"), "the first greeting frame");
        // A stall of the whole test process meanwhile (a loaded machine) is allowed for, no more.
        stalledMs = startLag.take();
      } finally {
        startLag.stop();
      }
      assert.ok(
        first.at - startAt - stalledMs <= FIRST_WORD_MS,
        `first greeting frame ${(first.at - startAt).toFixed(1)} ms after start (the process stalled ${
          stalledMs.toFixed(1)
        } ms)`,
      );
      assert.match(
        await t.waitForLog(/First word:/),
        /greeting audio sent \d+ ms after start \(pre-warmed session\)/,
      );
      assert.equal(engine.sessions(t).length, 1, "no second session was opened");
      assert.match(await scrape(t), /^parley_prewarm_total\{outcome="claimed"\} 1$/m);

      // All of it went at once, with marks: wait until the caller has heard ~800 ms of it.
      const marks = call.messagesOf("mark").map((m) => m.mark.name as string);
      const later = marks.find((name) => Number(name.split(":").at(-1)) >= 800);
      assert.ok(later !== undefined, `marks through the held audio: ${marks.join(", ")}`);
      const lag = watchLoopLag();
      try {
        await within(call.waitForEcho(later), "the caller hearing 800 ms of the greeting");
        const { cutMs, notBefore } = await within(engine.bargeIn(t, call), "the barge-in");
        const clear = await within(call.waitFor("clear"), "clear");
        const stalledMs = lag.take();
        const heardMs = call.heardMsOf(GREETING_BYTE, clear.at);
        assert.ok(heardMs >= 800 && heardMs < 2500, `caller heard ${heardMs} ms`);
        assertCutAtHeard(cutMs, heardMs, { clearAt: clear.at, notBefore: notBefore ?? clear.at, stalledMs });
      } finally {
        lag.stop();
      }
      call.stop();
      await within(t.waitForLog(/Call ended/), "the end");
    });
  });

  Deno.test(`${engine.name}: a pre-warm never claimed is closed after its timeout and records no call but its cost`, async () => {
    await withParley(engine, GREETS, async (t) => {
      const callSid = newCallSid();
      await t.answerWebhook(callSid);
      await within(engine.greetingAsked(t, 0), "the greeting asked for");
      await within(engine.greet(t, 0, 500), "some greeting held");
      const line = await within(t.waitForLog(/Pre-warmed session for CallSid=/), "the expiry", 3_000);
      // The greeting held so far is dropped: all 500 ms, or (on a loaded machine, where the fake's
      // real-time pacing runs late) the part that had arrived when the 0.3 s ran out.
      const dropped = new RegExp(
        `CallSid=${callSid} not claimed within 0.3 s: closed \\((\\d+) ms of greeting dropped\\)`,
      )
        .exec(line);
      assert.ok(dropped !== null, line);
      const droppedMs = Number(dropped[1]);
      assert.ok(droppedMs > 0 && droppedMs <= 500 && droppedMs % 20 === 0, line);
      await within(engine.sessions(t)[0]!.closed, "the upstream socket closing");
      // What it was billed is the call's (see cost_across_sessions_test.ts), and nothing else.
      const types = t.events.filter((e) => e.callSid === callSid && e.type !== "usage").map((e) => e.type);
      assert.deepEqual(
        types,
        ["call.webhook"],
        "the pre-warm added nothing but its usage to the call's record",
      );
      assert.match(await scrape(t), /^parley_prewarm_total\{outcome="expired"\} 1$/m);
      assert.match(await scrape(t), /^parley_prewarm_waiting 0$/m);
    }, 300);
  });

  Deno.test(`${engine.name}: a start for another CallSid cannot take a pre-warm; its own stream still can`, async () => {
    await withParley(engine, GREETS, async (t) => {
      const victim = newCallSid();
      const victimUrl = await t.answerWebhook(victim);
      await within(engine.greetingAsked(t, 0), "the victim's greeting asked for");
      await within(engine.greet(t, 0, 500), "the victim's greeting held");
      const intruderSid = newCallSid();
      const intruderUrl = await t.answerWebhook(intruderSid);
      // A genuine token of one call, a start naming the other.
      const intruder = await t.connectStream(intruderUrl, victim);
      intruder.start({ persona: "sam" });
      await intruder.closed;
      assert.match(
        await t.waitForLog(/Call ended: connection \S+ \(stream of CallSid=CA\w+\) reason=error/),
        new RegExp(`start for CallSid=${victim} on the stream of CallSid=${intruderSid}`),
      );
      assert.equal(intruder.messagesOf("media").length, 0, "none of the victim's greeting reached it");

      const call = await t.connectStream(victimUrl, victim);
      call.start({ persona: "sam" });
      await within(call.waitFor("media"), "the victim's own held greeting");
      call.stop();
      await within(t.waitForLog(new RegExp(`Call ended: CallSid=${victim}`)), "the end");
    });
  });

  Deno.test(`${engine.name}: a start that configures another session discards the pre-warm and opens a fresh one`, async () => {
    await withParley(engine, GREETS, async (t) => {
      const callSid = newCallSid();
      const streamUrl = await t.answerWebhook(callSid);
      await within(engine.greetingAsked(t, 0), "the pre-warm's greeting asked for");
      const call = await t.connectStream(streamUrl, callSid);
      call.start({ persona: "sam", voice: "ash" }); // not what the webhook's TwiML carried
      assert.match(
        await t.waitForLog(/Discarded the pre-warmed session/),
        new RegExp(`CallSid=${callSid}: the stream's start configures another session; opening a fresh one`),
      );
      await within(engine.sessions(t)[0]!.closed, "the pre-warmed session closing");
      await within(engine.greetingAsked(t, 1), "the fresh session's greeting");
      await within(engine.greet(t, 1, 200), "the fresh greeting");
      await within(call.waitFor("media"), "the fresh greeting at Twilio");
      assert.match(await scrape(t), /^parley_prewarm_total\{outcome="discarded"\} 1$/m);
      call.stop();
      await within(t.waitForLog(/Call ended/), "the end");
    });
  });

  Deno.test(`${engine.name}: prewarm: false opens the session on the socket; the miss is a debug line and a metric`, async () => {
    await withParley(engine, { ...GREETS, prewarm: false }, async (t) => {
      const callSid = newCallSid();
      const streamUrl = await t.answerWebhook(callSid);
      assert.equal(engine.sessions(t).length, 0, "nothing opened on the webhook");
      const call = await t.connectStream(streamUrl, callSid);
      assert.match(
        await t.waitForLog(/No pre-warmed session/),
        new RegExp(`No pre-warmed session for CallSid=${callSid}: opening one now`),
      );
      assert.equal(t.logs.find((l) => /No pre-warmed session/.test(l.line))?.level, "debug");
      call.start({ persona: "sam" });
      await within(engine.greetingAsked(t, 0), "the greeting asked for after start");
      assert.match(await scrape(t), /^parley_prewarm_total\{outcome="missed"\} 1$/m);
      call.stop();
      await within(t.waitForLog(/Call ended/), "the end");
    });
  });

  Deno.test(`${engine.name}: without a greeting the session is pre-warmed and configured, and says nothing`, async () => {
    await withParley(engine, {}, async (t) => {
      const callSid = newCallSid();
      const streamUrl = await t.answerWebhook(callSid);
      const call = await t.connectStream(streamUrl, callSid);
      call.start({ persona: "sam" });
      await within(t.waitForLog(/Stream started/), "the start");
      assert.equal(engine.sessions(t).length, 1, "the pre-warmed session serves the call");
      assert.match(await scrape(t), /^parley_prewarm_total\{outcome="claimed"\} 1$/m);
      assert.ok(!t.logs.some((l) => /First word/.test(l.line)), "no greeting to time");
      call.stop();
      await within(t.waitForLog(/Call ended/), "the end");
    });
  });
}
