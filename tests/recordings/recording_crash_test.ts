/**
 * The real process killed mid-call while recording: the WAV on disk has the audio written so far but
 * no sizes in its header; the next start repairs the header, marks the recording `repaired`, logs it,
 * and serves it. With RECORDINGS_S3_URL (a local `npm:s3rver`), the next start also stores the repaired
 * recording in the bucket with its state, removes the local copy, and serves it from the bucket.
 */

import assert from "node:assert/strict";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import { startFakeS3 } from "../../testing/fake_s3.ts";
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

function parleyEnv(
  upstream: FakeRealtimeServer,
  dataDir: string,
  extra: Record<string, string>,
): Record<string, string> {
  return processEnv({
    upstreamUrl: upstream.url,
    dataDir,
    personasDir: `${REPO}tests/testdata/recording_personas`,
    defaultPersona: "recorder",
    inboundPersona: "plain",
  }, extra);
}

/** The restarted process, and the call the first one was killed in. */
interface AfterCrash {
  callSid: string;
  dataDir: string;
  port: number;
  parley: ParleyProcess;
}

/**
 * Starts `main.ts` (with `extra` env), kills it with SIGKILL 1.5 s into a recorded call (the WAV written
 * so far, its header without sizes), starts it again on the same DATA_DIR, waits for the startup log to
 * say the recording was repaired, runs `check`, and stops it with SIGTERM (a clean exit).
 */
async function crashMidCall(
  extra: Record<string, string>,
  check: (after: AfterCrash) => Promise<void>,
): Promise<void> {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const first = await spawnParley("start", parleyEnv(upstream, dataDir, extra));
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

    second = await spawnParley("start", parleyEnv(upstream, dataDir, extra));
    const port2 = await listeningPort(second);
    const warning = await within(
      second.stderr.waitFor(/Repaired \d+ recording/),
      "the recording is repaired",
    );
    assert.match(warning, new RegExp(`Repaired 1 recording\\(s\\) .*marked "repaired": ${call.callSid}`));

    await check({ callSid: call.callSid, dataDir, port: port2, parley: second });

    second.child.kill("SIGTERM");
    assert.equal((await second.child.status).code, 0);
  } finally {
    await reap(first);
    if (second !== undefined) await reap(second);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** GET /api/calls/:sid/recording: a repaired recording, its header's sizes fixed, the caller's 1.5 s in it. */
async function assertServedRepaired(port: number, callSid: string): Promise<Uint8Array> {
  const response = await fetch(`http://127.0.0.1:${port}/api/calls/${callSid}/recording`, {
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
  return bytes;
}

Deno.test("a SIGKILL mid-call leaves a recording that the next start repairs and marks as repaired", async () => {
  await crashMidCall({}, async ({ callSid, port }) => {
    await assertServedRepaired(port, callSid);
  });
});

Deno.test("with RECORDINGS_S3_URL, a SIGKILL mid-call leaves a recording that the next start repairs and stores in the bucket, marked repaired", async () => {
  await using s3 = await startFakeS3();
  const bucketUrl = `${s3.bucketUrl}/parley`;
  const extra = {
    RECORDINGS_S3_URL: bucketUrl,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
  await crashMidCall(extra, async ({ callSid, dataDir, port, parley }) => {
    // Uploaded at startup, in the background (a bucket that is down must not hold up listening): in
    // the bucket and no longer in the folder.
    const stored = await parley.stdout.waitFor(new RegExp(`Recording ${callSid} stored in `));
    assert.match(
      stored,
      new RegExp(`Recording ${callSid} stored in ${bucketUrl} \\(\\d+ bytes, repaired\\)$`),
    );
    assert.deepEqual(await s3.keys(), [`parley/${callSid}.wav`]);
    const left = [];
    for await (const entry of Deno.readDir(`${dataDir}/recordings`)) left.push(entry.name);
    assert.deepEqual(left, [], "the local copy is removed once stored");

    // Served from the bucket (the only copy): whole, and by a range, both marked repaired.
    const bytes = await assertServedRepaired(port, callSid);
    const ranged = await fetch(`http://127.0.0.1:${port}/api/calls/${callSid}/recording`, {
      headers: { authorization: `Bearer ${API_TOKEN}`, range: "bytes=40-" },
    });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get("x-recording-state"), "repaired");
    assert.equal(ranged.headers.get("content-range"), `bytes 40-${bytes.length - 1}/${bytes.length}`);
    assert.deepEqual(new Uint8Array(await ranged.arrayBuffer()), bytes.slice(40));
  });
});
