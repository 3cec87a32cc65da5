/**
 * The same recorded call with RECORDINGS_S3_URL: spooled to the folder as it goes, stored in the bucket
 * (a local `npm:s3rver`) when it ends, the local copy removed, and served from the bucket, whole and by
 * byte ranges. The WAV read back from the bucket passes the same channel checks; a repaired recording
 * keeps its state in the bucket.
 */

import assert from "node:assert/strict";
import { startTestParley } from "../../testing/parley_harness.ts";
import { startFakeS3 } from "../../testing/fake_s3.ts";
import { createLogger } from "../../src/log.ts";
import { RecordingsDir } from "../../src/recordings/recordings_dir.ts";
import { S3Recordings } from "../../src/recordings/s3_recordings.ts";
import { s3BaseUrl } from "../../src/recordings_config.ts";
import { FRAME_BYTES, WAV_HEADER_BYTES, wavHeader } from "../../src/recordings/wav.ts";
import { callDatabasePath, openCallStore } from "../../src/store/sqlite/call_store.ts";
import {
  assertRecordedCall,
  assertServedByRange,
  recordedCall,
  recordedDuration,
  timesTap,
} from "./_recording_call.ts";

const PERSONAS_DIR = new URL("../testdata/recording_personas", import.meta.url).pathname;
const API_TOKEN = "recording-s3-test-token-0123456789abcdef";

async function filesIn(dir: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("with RECORDINGS_S3_URL, a recorded call is stored in the bucket when it ends and served from there by ranges", async () => {
  await using s3 = await startFakeS3();
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  const log = createLogger({ sink: (_level, line) => lines.push(line), secrets: [s3.secretAccessKey] });
  const spool = new RecordingsDir(dir);
  const bucket = new S3Recordings(s3.settings(), spool, log);
  const uploads: Promise<void>[] = [];
  spool.onFinished = (info) => {
    const upload = bucket.upload(info);
    uploads.push(upload);
    return upload;
  };
  const { tap, times } = timesTap();
  const dataDir = await Deno.makeTempDir();
  const store = openCallStore(callDatabasePath(dataDir));
  const t = await startTestParley({
    personasDir: PERSONAS_DIR,
    env: { DEFAULT_PERSONA: "recorder", API_TOKEN },
    tap,
    recordings: spool,
    recordingSource: bucket,
    store,
  });
  try {
    const callSid = await recordedCall(t);
    const durationMs = await recordedDuration(t, callSid, API_TOKEN);
    await t.parley.shutdown();
    assert.equal(uploads.length, 1, "the finished recording went to the bucket");
    await Promise.all(uploads);
    assert.match(
      lines.join("\n"),
      new RegExp(`Recording ${callSid} stored in ${s3.bucketUrl} \\(\\d+ bytes, complete\\)`),
    );
    assert.deepEqual(await filesIn(dir), [], "the local copy is removed once stored");

    const stored = await fetch(`${t.origin}/api/calls/${callSid}/recording`, {
      headers: { Authorization: `Bearer ${API_TOKEN}` },
    });
    const bytes = new Uint8Array(await stored.arrayBuffer());
    assertRecordedCall(bytes, { times: times(), durationMs });
    await assertServedByRange(t.origin, callSid, API_TOKEN, bytes, "complete");
  } finally {
    await t.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a recording repaired at startup is uploaded with its state; an unreachable bucket keeps the local copy and says so", async () => {
  await using s3 = await startFakeS3();
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  const log = createLogger({ sink: (_level, line) => lines.push(line) });
  const spool = new RecordingsDir(dir);
  const settings = s3.settings();
  try {
    // What a crash leaves: a header without sizes, 0.25 s of audio, the state still "recording".
    const sink = spool.start("CAcrashed", (error) => assert.fail(`recording failed: ${error}`));
    sink.write(new Uint8Array(2000 * FRAME_BYTES).fill(1));
    await spool.settle();
    assert.deepEqual(await spool.repair(), ["CAcrashed"]);

    // The bucket is down: the recording stays in the folder, and the log says why.
    const down = new S3Recordings({ ...settings, url: "http://127.0.0.1:9/none" }, spool, log);
    assert.deepEqual(await down.uploadPending(), ["CAcrashed"]);
    assert.match(
      lines.join("\n"),
      /Cannot store recording CAcrashed in RECORDINGS_S3_URL http:\/\/127\.0\.0\.1:9\/none: .*kept in/,
    );
    assert.deepEqual(await filesIn(dir), ["CAcrashed.json", "CAcrashed.wav"]);

    // Next start, the bucket is up.
    const bucket = new S3Recordings(settings, spool, log);
    assert.deepEqual(await bucket.uploadPending(), ["CAcrashed"]);
    assert.deepEqual(await filesIn(dir), []);
    const info = await bucket.info("CAcrashed");
    assert.deepEqual(info, {
      callSid: "CAcrashed",
      state: "repaired",
      startedAt: info!.startedAt,
      durationMs: 250,
    });
    const served = await bucket.serve("CAcrashed", info!, `bytes=0-${WAV_HEADER_BYTES - 1}`);
    assert.equal(served.status, 206);
    assert.equal(served.headers.get("x-recording-state"), "repaired");
    assert.deepEqual(new Uint8Array(await served.arrayBuffer()), wavHeader(2000 * FRAME_BYTES));
    assert.equal(await bucket.info("CAnever"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RECORDINGS_S3_URL takes s3://bucket/prefix (AWS, in AWS_REGION) or a path-style endpoint URL", () => {
  assert.equal(
    s3BaseUrl("s3://my-calls/parley/", "eu-west-1"),
    "https://s3.eu-west-1.amazonaws.com/my-calls/parley",
  );
  assert.equal(s3BaseUrl("http://127.0.0.1:9000/rec", "us-east-1"), "http://127.0.0.1:9000/rec");
  assert.equal(s3BaseUrl("https://minio.example/rec/sub/", "us-east-1"), "https://minio.example/rec/sub");
  for (const bad of ["https://minio.example/", "ftp://x/rec", "s3://", "https://h/rec?x=1", "not a url"]) {
    assert.equal(s3BaseUrl(bad, "us-east-1"), undefined, bad);
  }
});
