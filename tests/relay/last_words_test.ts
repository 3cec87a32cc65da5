/**
 * The caller's last words before hanging up stay in the record: when the caller hangs up while a line
 * is still being transcribed, the upstream stays open (sending nothing) until its transcript comes, at
 * most TRANSCRIPT_GRACE_MS; the call still ends when it ended. With nothing left to transcribe the
 * call ends at once.
 */

import assert from "node:assert/strict";
import { TRANSCRIPT_GRACE_MS } from "../../src/relay/last_words.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";
import { type FakeRealtimeSession, SHORT_ANSWER_USAGE, toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";

const API_TOKEN = "last-words-token-0123456789abcdef";
const TRANSCRIBED_AFTER_MS = 300;

async function withParley(run: (t: Awaited<ReturnType<typeof startTestParley>>) => Promise<void>) {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_last_words_" });
  const store = openCallStore(`${dataDir}/parley.db`);
  const t = await startTestParley({ env: { DEFAULT_PERSONA: "tester", API_TOKEN }, store });
  try {
    await run(t);
  } finally {
    await t.close();
    store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** A call on the `tester` persona, its upstream session (the `index`th) once it asked for the greeting. */
async function startedCall(t: Awaited<ReturnType<typeof startTestParley>>, index: number) {
  const call = await t.startCall({ persona: "tester" });
  const session = await within(t.upstream.session(index), "the session");
  await session.waitFor("response.create");
  return { call, session };
}

/** The server's transcript of the caller's item `itemId`. */
function transcribe(session: FakeRealtimeSession, itemId: string, transcript: string): void {
  session.send({
    type: "conversation.item.input_audio_transcription.completed",
    item_id: itemId,
    content_index: 0,
    transcript,
  });
}

async function recordOf(origin: string, callSid: string) {
  const headers = { authorization: `Bearer ${API_TOKEN}` };
  return await (await fetch(`${origin}/api/calls/${callSid}`, { headers })).json();
}

Deno.test("a caller who hangs up while their last words are transcribed: the line is kept, the end time is the hang-up", async () => {
  await withParley(async (t) => {
    const { call, session } = await startedCall(t, 0);
    session.speechStarted("item_last");
    await sendFrames(call, { frame: toneBytes(20, 0x20), forMs: 400 });
    session.speechStopped("item_last");
    const ended = t.waitForEvent("call.ended", (e) => e.callSid === call.callSid);
    const stoppedAt = Date.now();
    call.stop();
    await new Promise((resolve) => setTimeout(resolve, TRANSCRIBED_AFTER_MS));
    transcribe(session, "item_last", "Tuesday at ten works, bye.");
    const end = await within(ended, "the call's end");
    assert.equal(end.reason, "caller_hung_up");
    assert.ok(Math.abs(end.at - stoppedAt) < 100, `ended ${end.at - stoppedAt} ms after the stop`);
    const line = t.events.find((e) => e.type === "transcript" && e.callSid === call.callSid);
    assert.ok(line !== undefined && line.type === "transcript", "the last words were reported");
    assert.equal(line.text, "Tuesday at ten works, bye.");
    assert.ok(t.events.indexOf(line) < t.events.indexOf(end), "before the call's end");
    const record = await recordOf(t.origin, call.callSid);
    assert.deepEqual(record.transcript.map((l: { text: string }) => l.text), ["Tuesday at ten works, bye."]);
    assert.equal(record.endedAt, end.at);
    assert.equal(session.eventsOf("input_audio_buffer.commit").length, 0, "the server ended the turn itself");
  });
});

Deno.test("a caller who hangs up mid-sentence: their words so far are committed, transcribed and kept", async () => {
  await withParley(async (t) => {
    const { call, session } = await startedCall(t, 0);
    // Still speaking when the line goes dead: no silence follows for the server's VAD to end the turn.
    session.speechStarted("item_cut_off");
    await sendFrames(call, { frame: toneBytes(20, 0x20), forMs: 400 });
    const ended = t.waitForEvent("call.ended", (e) => e.callSid === call.callSid);
    call.stop();
    await within(session.waitFor("input_audio_buffer.commit"), "the caller's words committed");
    // The fake commits them as the item the speech was to become.
    transcribe(session, "item_cut_off", "Tuesday at ten works, b");
    const end = await within(ended, "the call's end");
    assert.equal(end.reason, "caller_hung_up");
    const record = await recordOf(t.origin, call.callSid);
    assert.deepEqual(record.transcript.map((l: { text: string }) => l.text), ["Tuesday at ten works, b"]);
    assert.equal(session.eventsOf("response.create").length, 1, "no answer asked for after the greeting");
  });
});

Deno.test("a commit the server turns into another item: the cut-off words are still awaited under its name", async () => {
  await withParley(async (t) => {
    const { call, session } = await startedCall(t, 0);
    session.commitAs = "item_renamed";
    session.speechStarted("item_announced");
    await sendFrames(call, { frame: toneBytes(20, 0x20), forMs: 400 });
    const ended = t.waitForEvent("call.ended", (e) => e.callSid === call.callSid);
    call.stop();
    await within(session.waitFor("input_audio_buffer.commit"), "the caller's words committed");
    await new Promise((resolve) => setTimeout(resolve, TRANSCRIBED_AFTER_MS));
    const sentAt = performance.now();
    transcribe(session, "item_renamed", "Call me back on Monday");
    await within(ended, "the call's end");
    const afterMs = performance.now() - sentAt;
    assert.ok(afterMs < TRANSCRIPT_GRACE_MS / 2, `ended ${afterMs.toFixed(0)} ms after the transcript`);
    const record = await recordOf(t.origin, call.callSid);
    assert.deepEqual(record.transcript.map((l: { text: string }) => l.text), ["Call me back on Monday"]);
    // Placed where the caller began to say it, before the hang-up, not when its text came.
    assert.ok(record.transcript[0].spokenAt < record.endedAt, "placed at the speech's start");
  });
});

Deno.test("a hang-up whose last line never gets a transcript ends after the grace; with none due it ends at once", async () => {
  await withParley(async (t) => {
    // Speech with no transcript ever: the wait is bounded.
    const { call, session } = await startedCall(t, 0);
    session.speechStarted("item_mumble");
    session.speechStopped("item_mumble");
    const ended = t.waitForEvent("call.ended", (e) => e.callSid === call.callSid);
    const stoppedAt = performance.now();
    call.stop();
    const end = await within(ended, "the call's end", 5_000);
    const waitedMs = performance.now() - stoppedAt;
    assert.ok(waitedMs >= TRANSCRIPT_GRACE_MS - 50, `ended ${waitedMs.toFixed(0)} ms after the stop`);
    assert.equal(end.reason, "caller_hung_up");

    // Nothing being transcribed: the end is not delayed.
    const { call: quiet, session: quietSession } = await startedCall(t, 1);
    const quietEnded = t.waitForEvent("call.ended", (e) => e.callSid === quiet.callSid);
    const quietStoppedAt = performance.now();
    quiet.stop();
    await within(quietEnded, "the second call's end");
    const quietMs = performance.now() - quietStoppedAt;
    assert.ok(quietMs < TRANSCRIPT_GRACE_MS / 2, `ended ${quietMs.toFixed(0)} ms after the stop`);
    assert.equal(quietSession.eventsOf("input_audio_buffer.commit").length, 0, "nothing to commit");
  });
});

Deno.test("a hang-up during an answer cancels it (no tokens for the wait) and keeps the answer's transcript and cost", async () => {
  await withParley(async (t) => {
    const { call, session } = await startedCall(t, 0);
    // Ten seconds of answer in real time: still being generated when the caller hangs up.
    const answer = session.streamResponse({
      responseId: "r_long",
      itemId: "item_long",
      audio: toneBytes(10_000, 0x33),
      chunkBytes: 160,
      intervalMs: 20,
      transcript: "Let me tell you all about our plans.",
      // What the cut answer cost: billed, so in the call's cost.
      usage: SHORT_ANSWER_USAGE,
    });
    await within(call.waitFor("media"), "the answer's first audio at Twilio");
    const ended = t.waitForEvent("call.ended", (e) => e.callSid === call.callSid);
    call.stop();
    await within(session.waitFor("response.cancel"), "the answer cancelled");
    assert.equal((await within(answer, "the answer's end")).cancelled, true);
    const end = await within(ended, "the call's end");
    const line = t.events.find((e) => e.type === "transcript" && e.callSid === call.callSid);
    assert.ok(line !== undefined && line.type === "transcript", "the answer's line was reported");
    assert.equal(line.text, "Let me tell you all about our plans.");
    assert.ok(t.events.indexOf(line) < t.events.indexOf(end), "before the call's end");
    const usage = t.events.find((e) => e.type === "usage" && e.callSid === call.callSid);
    assert.ok(usage !== undefined, "the cancelled answer's usage was reported");
    assert.ok(t.events.indexOf(usage) < t.events.indexOf(end), "before the call's end");
    assert.ok((await recordOf(t.origin, call.callSid)).costUsd > 0, "and counted in the call's cost");
  });
});

Deno.test("a hang-up whose last words fail to be transcribed ends at the failure, saying why", async () => {
  await withParley(async (t) => {
    const { call, session } = await startedCall(t, 0);
    session.speechStarted("item_garbled");
    session.speechStopped("item_garbled");
    const ended = t.waitForEvent("call.ended", (e) => e.callSid === call.callSid);
    call.stop();
    await new Promise((resolve) => setTimeout(resolve, TRANSCRIBED_AFTER_MS));
    const failedAt = performance.now();
    session.send({
      type: "conversation.item.input_audio_transcription.failed",
      item_id: "item_garbled",
      content_index: 0,
      error: {
        type: "transcription_error",
        code: "audio_unintelligible",
        message: "Audio could not be transcribed",
      },
    });
    const end = await within(ended, "the call's end");
    const afterFailureMs = performance.now() - failedAt;
    assert.ok(
      afterFailureMs < TRANSCRIPT_GRACE_MS / 2,
      `ended ${afterFailureMs.toFixed(0)} ms after the failure`,
    );
    assert.equal(end.reason, "caller_hung_up");
    assert.match(
      await within(t.waitForLog(/User words not transcribed on /), "the log line"),
      new RegExp(`CallSid=${call.callSid}.*: Audio could not be transcribed$`),
    );
  });
});

Deno.test("a commit of last words the server finds empty (refused) ends the wait at its bound, logging no error", async () => {
  await withParley(async (t) => {
    const { call, session } = await startedCall(t, 0);
    // Speech announced, but no audio reached the buffer since: OpenAI refuses the commit.
    session.speechStarted("item_nothing");
    const ended = t.waitForEvent("call.ended", (e) => e.callSid === call.callSid);
    call.stop();
    await within(session.waitFor("input_audio_buffer.commit"), "the commit");
    const stoppedAt = performance.now();
    const end = await within(ended, "the call's end", 5_000);
    assert.equal(end.reason, "caller_hung_up");
    const waitedMs = performance.now() - stoppedAt;
    assert.ok(
      waitedMs >= TRANSCRIPT_GRACE_MS - 100,
      `no transcript came: ended after ${waitedMs.toFixed(0)} ms`,
    );
    assert.deepEqual(
      t.logs.filter((l) => /OpenAI error|input_audio_buffer_commit_empty/.test(l.line)),
      [],
      "the refusal (after the end, like every error then) is not logged as an error",
    );
  });
});
