/**
 * Recordings through the harness: a call of a persona with `record: true` leaves a two-channel WAV in
 * RECORDINGS_DIR, read back here channel by channel: the caller's energy where the fake caller spoke,
 * the agent's where its audio was heard and silence after the barge-in's `clear`, and the length of
 * the call. The route serves it with byte ranges; a persona without `record` leaves nothing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startTestParley } from "../../testing/parley_harness.ts";
import { RecordingsDir } from "../../src/recordings/recordings_dir.ts";
import { callDatabasePath, openCallStore } from "../../src/store/sqlite/call_store.ts";
import {
  assertRecordedCall,
  assertServedByRange,
  recordedCall,
  recordedDuration,
  timesTap,
} from "./_recording_call.ts";

const PERSONAS_DIR = new URL("../testdata/recording_personas", import.meta.url).pathname;
const API_TOKEN = "recording-test-token-0123456789abcdef";
Deno.test("a recorded call leaves a two-channel WAV: the caller where they spoke, the agent as heard, cut at the clear", async () => {
  const dir = await Deno.makeTempDir();
  const recordings = new RecordingsDir(join(dir, "recordings"));
  const store = openCallStore(callDatabasePath(dir));
  const { tap, times } = timesTap();
  const t = await startTestParley({
    personasDir: PERSONAS_DIR,
    env: { DEFAULT_PERSONA: "recorder", API_TOKEN },
    tap,
    recordings,
    store,
  });
  try {
    const callSid = await recordedCall(t);
    const durationMs = await recordedDuration(t, callSid, API_TOKEN);
    await t.parley.shutdown(); // the relay has ended: the recorder has finished the file
    const at = times();
    assert.equal(at.callSid, callSid);
    assert.equal((await recordings.info(callSid))?.state, "complete");

    const bytes = await Deno.readFile(join(dir, "recordings", `${callSid}.wav`));
    assertRecordedCall(bytes, { times: at, durationMs });
    await assertServedByRange(t.origin, callSid, API_TOKEN, bytes, "complete");
    const auth = { Authorization: `Bearer ${API_TOKEN}` };
    const none = await fetch(`${t.origin}/api/calls/CAnothing/recording`, { headers: auth });
    assert.equal(none.status, 404);
    assert.match((await none.json()).error, /CAnothing.*has no recording/);
  } finally {
    await t.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a persona without record: true is not recorded, and a recorded persona's greeting starts with its disclosure", async () => {
  const dir = await Deno.makeTempDir();
  const t = await startTestParley({
    personasDir: PERSONAS_DIR,
    env: { DEFAULT_PERSONA: "plain", API_TOKEN },
    recordings: new RecordingsDir(dir),
  });
  try {
    const plain = await t.startCall({ persona: "plain" });
    const session = await t.upstream.session(0);
    const create = await session.waitFor("response.create");
    assert.doesNotMatch(JSON.stringify(create), /This call is recorded/);
    await t.waitForEvent("call.started", (e) => e.callSid === plain.callSid);
    plain.close();
    const recorded = await t.startCall({ persona: "recorder" });
    const second = await t.upstream.session(1);
    const greeting = await second.waitFor("response.create");
    assert.match(JSON.stringify(greeting), /Begin by saying, word for word: \\"This call is recorded.\\"/);
    await t.waitForEvent("call.started", (e) => e.callSid === recorded.callSid);
    recorded.close();
    await t.parley.shutdown();
    const files = [];
    for await (const entry of Deno.readDir(dir)) files.push(entry.name);
    assert.deepEqual(files.sort(), [`${recorded.callSid}.json`, `${recorded.callSid}.wav`]);
  } finally {
    await t.close();
    await Deno.remove(dir, { recursive: true });
  }
});
