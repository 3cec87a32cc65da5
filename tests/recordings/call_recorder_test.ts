/**
 * The recorder's own output, sample by sample: the caller where its frames came, the agent where its
 * audio played (audio queued seconds ahead kept, past the recorder's first buffer), silence after a
 * cut, exactly the call's length; what it hands its sink is final when handed (the sink copies it);
 * a payload that is not base64 is heard as silence and the recording still finishes.
 */

import assert from "node:assert/strict";
import { decodeMulawSample } from "../../src/audio/mulaw.ts";
import { CallRecorder, MAX_STREAM_SKEW_MS, type RecordingSink } from "../../src/recordings/call_recorder.ts";
import { FRAME_BYTES } from "../../src/recordings/wav.ts";
import { loudRuns } from "./_recording_call.ts";

const CALLER = 0x20;
const AGENT = 0x11;

/** A sink that copies what it is handed, as the file sink writes it at once. */
function copyingSink() {
  const chunks: Uint8Array[] = [];
  let finished: { dataBytes: number; durationMs: number } | undefined;
  const sink: RecordingSink = {
    write: (frames) => void chunks.push(frames.slice()),
    finish: (dataBytes, durationMs) => void (finished = { dataBytes, durationMs }),
  };
  const channels = () => {
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const chunk of chunks) bytes.set(chunk, (at += chunk.length) - chunk.length);
    // A μ-law byte a channel, interleaved: the file's data.
    const frames = bytes.length / FRAME_BYTES;
    const left = new Int16Array(frames);
    const right = new Int16Array(frames);
    for (let i = 0; i < frames; i++) {
      left[i] = decodeMulawSample(bytes[i * 2]!);
      right[i] = decodeMulawSample(bytes[i * 2 + 1]!);
    }
    return { left, right, writes: chunks.length };
  };
  return { sink, channels, finished: () => finished };
}

const payload = (byte: number, ms: number) => btoa(String.fromCharCode(...new Uint8Array(ms * 8).fill(byte)));

Deno.test("two recorders at once write each call's own audio: caller as it came, agent as played, cut, to the end", () => {
  const a = copyingSink();
  const b = copyingSink();
  const first = new CallRecorder(a.sink);
  const second = new CallRecorder(b.sink);
  // 3 s of agent audio queued at once, playing from 100 ms (24 KB ahead: past the first buffer).
  for (let j = 0; j < 150; j++) first.agentAudio(100 + 20 * j, "item", 20 * j, payload(AGENT, 20));
  for (let at = 0; at < 2000; at += 20) {
    if (at === 1500) first.agentCut(1500);
    first.callerFrame(at, payload(CALLER, 20));
    second.callerFrame(at, payload(AGENT, 20)); // the other call's caller, interleaved with the first
  }
  first.ended(2000);
  second.ended(2000);

  const { left, right, writes } = a.channels();
  assert.ok(writes >= 4, `written as the call went: ${writes} writes`);
  assert.deepEqual(a.finished(), { dataBytes: 16000 * FRAME_BYTES, durationMs: 2000 });
  assert.equal(left.length, 16000);
  const loud = (byte: number) => decodeMulawSample(byte);
  const at = (ms: number) => ms * 8;
  assert.ok(left.every((s) => s === loud(CALLER)), "the caller all along");
  assert.ok(right.subarray(0, at(100)).every((s) => s === 0), "the agent silent before it played");
  assert.ok(right.subarray(at(100), at(1500)).every((s) => s === loud(AGENT)), "the agent as played");
  assert.ok(right.subarray(at(1500)).every((s) => s === 0), "nothing of the agent after the cut");

  const other = b.channels();
  assert.ok(other.left.every((s) => s === loud(AGENT)), "the second call's caller, untouched by the first");
  assert.ok(other.right.every((s) => s === 0));
});

Deno.test("a long answer queued ahead is written whole while the recorder's buffer grows and shrinks back", () => {
  const { sink, channels } = copyingSink();
  const recorder = new CallRecorder(sink);
  // 4 s of agent audio queued at once (32 KB ahead), playing from 100 ms; the caller for 5 s.
  for (let j = 0; j < 200; j++) recorder.agentAudio(100 + 20 * j, "item", 20 * j, payload(AGENT, 20));
  for (let at = 0; at < 5000; at += 20) recorder.callerFrame(at, payload(CALLER, 20));
  recorder.ended(5000);
  const { left, right } = channels();
  assert.equal(left.length, 40000);
  assert.ok(left.every((s) => s === decodeMulawSample(CALLER)));
  assert.ok(right.subarray(0, 800).every((s) => s === 0));
  assert.ok(right.subarray(800, 32800).every((s) => s === decodeMulawSample(AGENT)), "all 4 s of the answer");
  assert.ok(right.subarray(32800).every((s) => s === 0));
});

Deno.test("a payload that is not base64 is silence: the recorder goes on and finishes", () => {
  const { sink, channels, finished } = copyingSink();
  const recorder = new CallRecorder(sink);
  recorder.callerFrame(0, payload(CALLER, 20));
  recorder.callerFrame(20, "%%%% not base64 %%%%");
  recorder.agentAudio(40, "item", 0, "@@@@");
  recorder.ended(1000);
  assert.deepEqual(finished(), { dataBytes: 8000 * FRAME_BYTES, durationMs: 1000 });
  const { left, right } = channels();
  assert.ok(left.subarray(0, 160).every((s) => s === decodeMulawSample(CALLER)));
  assert.ok(left.subarray(160).every((s) => s === 0));
  assert.ok(right.every((s) => s === 0));
});

Deno.test("a call that ends passes its buffers to the next call silent: the next recording holds none of it", () => {
  // Many calls end with audio still pending on both channels (agent queued past the end, caller in
  // the settle window); the calls after them must start from silence.
  for (let call = 0; call < 80; call++) {
    const recorder = new CallRecorder(copyingSink().sink);
    for (let at = 0; at < 300; at += 20) recorder.callerFrame(at, payload(CALLER, 20));
    for (let j = 0; j < 20; j++) recorder.agentAudio(300 + 20 * j, "item", 20 * j, payload(AGENT, 20));
    recorder.ended(310);
  }
  const { sink, channels } = copyingSink();
  const next = new CallRecorder(sink);
  next.callerFrame(300, payload(CALLER, 20), 300);
  next.ended(1000);
  const { left, right } = channels();
  assert.equal(left.length, 8000);
  assert.deepEqual(loudRuns(left), [[300, 320]], "only its own caller frame");
  assert.ok(right.every((s) => s === 0), "no agent audio of an earlier call");
});

Deno.test("one payload of 5 s of agent audio (40 KB, past a channel's first buffer) is recorded whole", () => {
  const { sink, channels } = copyingSink();
  const recorder = new CallRecorder(sink);
  recorder.agentAudio(100, "item", 0, payload(AGENT, 5000));
  for (let at = 0; at < 6000; at += 20) recorder.callerFrame(at, payload(CALLER, 20));
  recorder.ended(6000);
  const { right } = channels();
  assert.deepEqual(loudRuns(right), [[100, 5100]]);
});

Deno.test("caller frames land at their stream time, exactly: a burst after an 800 ms stall leaves no gap", () => {
  const { sink, channels, finished } = copyingSink();
  const recorder = new CallRecorder(sink);
  // Spoken from 100 ms, 20 ms a frame; the first 10 arrive in time, the next 15 at once after a stall.
  for (let i = 0; i < 10; i++) recorder.callerFrame(100 + 20 * i, payload(CALLER, 20), 100 + 20 * i);
  for (let i = 10; i < 25; i++) recorder.callerFrame(1100, payload(CALLER, 20), 100 + 20 * i);
  for (let i = 25; i < 60; i++) recorder.callerFrame(1100 + 20 * (i - 24), payload(0xff, 20), 100 + 20 * i);
  recorder.ended(2000);
  assert.deepEqual(finished(), { dataBytes: 16000 * FRAME_BYTES, durationMs: 2000 });
  assert.deepEqual(loudRuns(channels().left), [[100, 600]]);
  assert.equal(recorder.lateCallerFrames, 0);
});

Deno.test("a burst held up longer than MAX_STREAM_SKEW_MS lands at its stream time too: none goes by arrival or is dropped", () => {
  const { sink, channels } = copyingSink();
  const recorder = new CallRecorder(sink);
  // 10 frames in time from 100 ms, then 30 held 1.3 s: the first of them arrive more than
  // MAX_STREAM_SKEW_MS after they were spoken, the last less. Each follows the one before.
  const arrival = 300 + MAX_STREAM_SKEW_MS + 300;
  for (let i = 0; i < 10; i++) recorder.callerFrame(100 + 20 * i, payload(CALLER, 20), 100 + 20 * i);
  for (let i = 10; i < 40; i++) recorder.callerFrame(arrival, payload(CALLER, 20), 100 + 20 * i);
  for (let i = 40; i < 80; i++) {
    recorder.callerFrame(arrival + 20 * (i - 39), payload(0xff, 20), 100 + 20 * i);
  }
  recorder.ended(arrival + 1000);
  assert.deepEqual(loudRuns(channels().left), [[100, 900]]);
  assert.equal(recorder.lateCallerFrames, 0);
});

Deno.test("caller frames more than MAX_STREAM_SKEW_MS late that do not follow one another are placed by arrival", () => {
  const { sink, channels } = copyingSink();
  const recorder = new CallRecorder(sink);
  // In time from 100 ms, then frames stamped 1.5 s before they arrive, 40 ms apart: no stream to follow.
  for (let i = 0; i < 10; i++) recorder.callerFrame(100 + 20 * i, payload(0xff, 20), 100 + 20 * i);
  for (let i = 0; i < 10; i++) {
    const at = 2000 + 20 * i;
    recorder.callerFrame(at, payload(CALLER, 20), 500 + 40 * i);
  }
  recorder.ended(2500);
  assert.deepEqual(loudRuns(channels().left), [[2000, 2200]]);
});

Deno.test("a caller frame whose place was already written is dropped and counted, not written elsewhere", () => {
  const { sink, channels } = copyingSink();
  const recorder = new CallRecorder(sink);
  for (let i = 0; i < 50; i++) recorder.callerFrame(20 * i, payload(0xff, 20), 20 * i); // 1 s of silence
  recorder.agentCut(2000); // the agent's side moved time on while the caller's frames were held up
  recorder.callerFrame(2000, payload(CALLER, 20), 1000); // spoken at 1000 ms: written by now
  recorder.ended(2020);
  assert.deepEqual(loudRuns(channels().left), []);
  assert.equal(recorder.lateCallerFrames, 1);
});

Deno.test("caller frames with no, backward or implausible stream times are placed by arrival, continuously", () => {
  const streamTimes: Record<string, (i: number, at: number) => number | undefined> = {
    missing: () => undefined,
    "stuck at one value": () => 1000,
    "going backwards": (i) => 5000 - 20 * i,
    "2 s from arrival": (_i, at) => at + 2000,
  };
  for (const [name, streamAt] of Object.entries(streamTimes)) {
    const { sink, channels } = copyingSink();
    const recorder = new CallRecorder(sink);
    // As before the timestamps: each frame where it arrived, a jittered one joined to the one before.
    for (let i = 0; i < 25; i++) {
      const at = 1000 + 20 * i + (i % 3) * 7;
      recorder.callerFrame(at, payload(CALLER, 20), streamAt(i, at));
    }
    recorder.ended(2500);
    assert.deepEqual(loudRuns(channels().left), [[1000, 1500]], name);
  }
});
