/**
 * When each transcript line began to be heard (`spokenAt`), beside when its text came (`at`): a caller
 * line from its speech start, an agent line from its first audio playing (after what Twilio had queued),
 * so that a recording's player seeks a clicked line to its first word, not to the end of the turn.
 */

import assert from "node:assert/strict";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { watchLoopLag } from "../../testing/loop_lag.ts";
import { within } from "../../testing/within.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";

const API_TOKEN = "transcript-timing-token-0123456789";

Deno.test("a transcript line says when it began to be heard: the caller's speech start, the agent's first audio", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_transcript_timing_" });
  const store = openCallStore(`${dataDir}/parley.db`);
  const t = await startTestParley({ env: { DEFAULT_PERSONA: "tester", API_TOKEN }, store });
  // A stall of this process (Parley's and the fakes') between a mark in time here and Parley's reading
  // of the event it dates delays that reading, and so the date, by up to the stall.
  const lag = watchLoopLag();
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await within(t.upstream.session(0), "the session");
    await session.waitFor("response.create");

    // The agent: 600 ms of audio streamed over ~300 ms, its transcript after the last delta.
    lag.take();
    const agentFrom = Date.now();
    const streaming = session.streamResponse({
      responseId: "r1",
      itemId: "item_a1",
      audio: toneBytes(600, 0x11),
      chunkBytes: 160,
      intervalMs: 10,
      transcript: "Hello, this is the agent.",
    });
    await within(call.waitFor("media"), "the first agent audio");
    const agentStalledMs = lag.take();
    await streaming;
    // How long the fake took from the first delta to the transcript: ~300 ms, less under load, when its
    // schedule sends late chunks at once.
    const streamedMs = Date.now() - agentFrom;
    const agent = await within(
      t.waitForEvent("transcript", (e) => e.speaker === "agent"),
      "the agent's line",
    );
    assert.ok(agent.spokenAt !== undefined, "the agent's line has a spokenAt");
    assert.ok(
      Math.abs(agent.spokenAt - agentFrom) < 100 + agentStalledMs,
      `spoken ${agent.spokenAt - agentFrom} ms after the first delta (the process stalled up to ${
        agentStalledMs.toFixed(1)
      } ms)`,
    );
    assert.ok(
      agent.at - agent.spokenAt >= Math.min(250, streamedMs - 100),
      `text came ${
        agent.at - agent.spokenAt
      } ms after the first word, the answer took ${streamedMs} ms to stream`,
    );

    // The caller: speaks for 600 ms after the agent's audio has played; the transcript comes after.
    await call.waitForEcho("item_a1:600");
    lag.take();
    const callerFrom = Date.now();
    session.speechStarted("item_c1");
    await sendFrames(call, { frame: toneBytes(20, 0x20), forMs: 600 });
    const callerStalledMs = lag.take();
    session.speechStopped("item_c1");
    session.send({
      type: "conversation.item.input_audio_transcription.completed",
      item_id: "item_c1",
      content_index: 0,
      transcript: "I would like a table.",
    });
    const caller = await within(
      t.waitForEvent("transcript", (e) => e.speaker === "caller"),
      "the caller's line",
    );
    assert.ok(caller.spokenAt !== undefined, "the caller's line has a spokenAt");
    assert.ok(
      Math.abs(caller.spokenAt - callerFrom) < 100 + callerStalledMs,
      `spoken ${caller.spokenAt - callerFrom} ms after speech began (the process stalled up to ${
        callerStalledMs.toFixed(1)
      } ms)`,
    );
    assert.ok(
      caller.at - caller.spokenAt >= 550,
      `text came ${caller.at - caller.spokenAt} ms after the first word`,
    );

    // The record keeps both, for the call page and the webhooks.
    call.close();
    await within(t.waitForEvent("call.ended"), "the end");
    const headers = { authorization: `Bearer ${API_TOKEN}` };
    const record = await (await fetch(`${t.origin}/api/calls/${call.callSid}`, { headers })).json();
    assert.deepEqual(
      record.transcript.map((l: { speaker: string; spokenAt: number | null }) => [l.speaker, l.spokenAt]),
      [["agent", agent.spokenAt], ["caller", caller.spokenAt]],
    );
  } finally {
    lag.stop();
    await t.close();
    store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
