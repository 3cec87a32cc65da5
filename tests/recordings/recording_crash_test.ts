/**
 * The real process killed mid-call while recording: the WAV on disk has the audio written so far but
 * no sizes in its header; the next start repairs the header, marks the recording `repaired`, logs it,
 * and serves it.
 */

import assert from "node:assert/strict";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import { within } from "../../testing/within.ts";
import {
  listeningPort,
  type ParleyProcess,
  placeTwilioCall,
  PROCESS_API_TOKEN,
  PROCESS_AUTH_TOKEN,
  PROCESS_PUBLIC_BASE_URL,
  processEnv,
  reap,
  REPO,
  spawnParley,
} from "../../testing/parley_process.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { FRAME_BYTES, readWav, SAMPLE_RATE, WAV_HEADER_BYTES } from "../../src/recordings/wav.ts";
import { decodeMulawSample } from "../../src/audio/mulaw.ts";
import { CALLER_BYTE } from "./_recording_call.ts";

const AUTH_TOKEN = PROCESS_AUTH_TOKEN;
const API_TOKEN = PROCESS_API_TOKEN;
const PUBLIC_BASE_URL = PROCESS_PUBLIC_BASE_URL;

function parleyEnv(upstream: FakeRealtimeServer, dataDir: string): Record<string, string> {
  return processEnv({
    upstreamUrl: upstream.url,
    dataDir,
    personasDir: `${REPO}tests/testdata/recording_personas`,
    defaultPersona: "recorder",
    inboundPersona: "plain",
  });
}

Deno.test("a SIGKILL mid-call leaves a recording that the next start repairs and marks as repaired", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const first = await spawnParley("start", parleyEnv(upstream, dataDir));
  let second: ParleyProcess | undefined;
  try {
    const port = await listeningPort(first);
    const call = await placeTwilioCall({ port, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC_BASE_URL }, {
      persona: "recorder",
    });
    call.start({ persona: "recorder" });
    const session = await upstream.session(0);
    await session.waitFor("response.create");
    // 1.5 s of the caller speaking; the recorder writes each half second that is final.
    await sendFrames(call, { frame: new Uint8Array(160).fill(CALLER_BYTE), forMs: 1_500 });
    await session.waitFor(
      "input_audio_buffer.append",
      () => session.eventsOf("input_audio_buffer.append").length >= 75,
    );
    const wavPath = `${dataDir}/recordings/${call.callSid}.wav`;
    const before = await Deno.readFile(wavPath);
    assert.ok(
      before.length > WAV_HEADER_BYTES + SAMPLE_RATE * FRAME_BYTES * 0.5,
      `written as it goes: ${before.length} B`,
    );
    // The data chunk's size is the header's last field.
    assert.equal(
      new DataView(before.buffer).getUint32(WAV_HEADER_BYTES - 4, true),
      0,
      "no data size before the end",
    );

    first.child.kill("SIGKILL");
    await first.child.status;
    await call.closed;

    second = await spawnParley("start", parleyEnv(upstream, dataDir));
    const port2 = await listeningPort(second);
    const warning = await within(
      second.stderr.waitFor(/Repaired \d+ recording/),
      "the recording is repaired",
    );
    assert.match(warning, new RegExp(`Repaired 1 recording\\(s\\) .*marked "repaired": ${call.callSid}`));

    const response = await fetch(`http://127.0.0.1:${port2}/api/calls/${call.callSid}/recording`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-recording-state"), "repaired");
    const bytes = new Uint8Array(await response.arrayBuffer());
    const view = new DataView(bytes.buffer);
    assert.equal(view.getUint32(4, true), bytes.length - 8, "RIFF size");
    assert.equal(view.getUint32(WAV_HEADER_BYTES - 4, true), bytes.length - WAV_HEADER_BYTES, "data size");
    assert.equal(view.getUint32(46, true), (bytes.length - WAV_HEADER_BYTES) / FRAME_BYTES, "fact: samples");
    const [caller, agent] = readWav(bytes).channels as [Int16Array, Int16Array];
    assert.ok(caller.length >= SAMPLE_RATE / 2, `at least half a second kept: ${caller.length} samples`);
    const loud = Math.abs(decodeMulawSample(CALLER_BYTE));
    const spoken = caller.filter((s) => Math.abs(s) === loud).length;
    assert.ok(spoken >= caller.length * 0.5, `the caller's speech is in the left channel (${spoken})`);
    assert.ok(agent.every((s) => s === 0), "the agent said nothing");

    second.child.kill("SIGTERM");
    assert.equal((await second.child.status).code, 0);
  } finally {
    await reap(first);
    if (second !== undefined) await reap(second);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
