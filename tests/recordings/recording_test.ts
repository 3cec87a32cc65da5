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
import { readWav, SAMPLE_RATE } from "../../src/recordings/wav.ts";
import { decodeMulawSample } from "../../src/audio/mulaw.ts";
import { AGENT_BYTE, CALLER_BYTE, recordedCall, timesTap } from "./_recording_call.ts";

const PERSONAS_DIR = new URL("../testdata/recording_personas", import.meta.url).pathname;
const API_TOKEN = "recording-test-token-0123456789abcdef";
/** How far an edge may sit from the tap's time (jitter joined, scheduling on a loaded machine), ms. */
const EDGE_MS = 80;

/** Mean absolute sample of `samples` between `fromMs` and `toMs`. */
function level(samples: Int16Array, fromMs: number, toMs: number): number {
  const from = Math.max(0, Math.round((fromMs * SAMPLE_RATE) / 1000));
  const to = Math.min(samples.length, Math.round((toMs * SAMPLE_RATE) / 1000));
  assert.ok(to > from, `window ${fromMs}–${toMs} ms is inside the recording (${samples.length} samples)`);
  let sum = 0;
  for (let i = from; i < to; i++) sum += Math.abs(samples[i]!);
  return sum / (to - from);
}

Deno.test("a recorded call leaves a two-channel WAV: the caller where they spoke, the agent as heard, cut at the clear", async () => {
  const dir = await Deno.makeTempDir();
  const recordings = new RecordingsDir(dir);
  const { tap, times } = timesTap();
  const t = await startTestParley({
    personasDir: PERSONAS_DIR,
    env: { DEFAULT_PERSONA: "recorder", API_TOKEN },
    tap,
    recordings,
  });
  try {
    const callSid = await recordedCall(t);
    await t.parley.shutdown(); // the relay has ended: the recorder has finished the file
    const at = times();
    assert.equal(at.callSid, callSid);
    assert.equal((await recordings.info(callSid))?.state, "complete");

    const wav = readWav(await Deno.readFile(join(dir, `${callSid}.wav`)));
    assert.equal(wav.sampleRate, 8000);
    assert.equal(wav.channels.length, 2);
    const [caller, agent] = wav.channels as [Int16Array, Int16Array];
    const durationMs = (caller.length / SAMPLE_RATE) * 1000;
    assert.ok(Math.abs(durationMs - at.endedAt) <= 40, `recording ${durationMs} ms, call ${at.endedAt} ms`);

    const callerLoud = Math.abs(decodeMulawSample(CALLER_BYTE));
    const agentLoud = Math.abs(decodeMulawSample(AGENT_BYTE));
    // Left: the caller's speech, and silence before and after it.
    assert.ok(
      level(caller, at.speechFrom + EDGE_MS, at.speechTo - EDGE_MS) > callerLoud * 0.95,
      "caller spoke",
    );
    assert.equal(level(caller, 0, at.speechFrom - EDGE_MS), 0, "caller silent before speaking");
    assert.equal(level(caller, at.speechTo + EDGE_MS, durationMs), 0, "caller silent after speaking");
    // Right: the greeting from where it played to the clear, silence before and after.
    assert.equal(level(agent, 0, at.agentFrom - EDGE_MS), 0, "agent silent before the greeting played");
    assert.ok(level(agent, at.agentFrom + EDGE_MS, at.cutAt - EDGE_MS) > agentLoud * 0.95, "agent heard");
    assert.equal(level(agent, at.cutAt + EDGE_MS, durationMs), 0, "agent silent after the clear");
    // Heard: about 1 s of a 3 s greeting.
    const heardMs = at.cutAt - at.agentFrom;
    assert.ok(heardMs > 900 && heardMs < 1600, `greeting heard ${heardMs} ms`);

    // The route: authenticated, audio/wav, whole and by range.
    const url = `${t.origin}/api/calls/${callSid}/recording`;
    const denied = await fetch(url);
    await denied.body?.cancel();
    assert.equal(denied.status, 401);
    const auth = { Authorization: `Bearer ${API_TOKEN}` };
    const whole = await fetch(url, { headers: auth });
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get("content-type"), "audio/wav");
    assert.equal(whole.headers.get("accept-ranges"), "bytes");
    assert.equal(whole.headers.get("x-recording-state"), "complete");
    const bytes = new Uint8Array(await whole.arrayBuffer());
    assert.deepEqual(bytes, await Deno.readFile(join(dir, `${callSid}.wav`)));
    const part = await fetch(url, { headers: { ...auth, Range: "bytes=100-199" } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get("content-range"), `bytes 100-199/${bytes.length}`);
    assert.deepEqual(new Uint8Array(await part.arrayBuffer()), bytes.subarray(100, 200));
    const tail = await fetch(url, { headers: { ...auth, Range: "bytes=-10" } });
    assert.equal(tail.status, 206);
    assert.deepEqual(new Uint8Array(await tail.arrayBuffer()), bytes.subarray(bytes.length - 10));
    const past = await fetch(url, { headers: { ...auth, Range: `bytes=${bytes.length}-` } });
    await past.body?.cancel();
    assert.equal(past.status, 416);
    assert.equal(past.headers.get("content-range"), `bytes */${bytes.length}`);
    const none = await fetch(`${t.origin}/api/calls/CAnothing/recording`, { headers: auth });
    assert.equal(none.status, 404);
    assert.match((await none.json()).error, /CAnothing.*has no recording/);
  } finally {
    await t.close();
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
