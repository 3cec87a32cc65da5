/**
 * RECORDING_RETENTION_DAYS with RECORDINGS_S3_URL: uploaded recordings leave the folder, so the sweep
 * deletes the old ones in the bucket (ListObjectsV2 page by page under the prefix, then DELETE), logs
 * them, leaves everything else in the bucket alone, shrugs off another instance sweeping the same bucket,
 * and logs a failing bucket instead of crashing, deleting at the next sweep. Checked against a local
 * `npm:s3rver` whose objects are aged by their `LastModified`.
 */

import assert from "node:assert/strict";
import { AwsClient } from "aws4fetch";
import { type FakeS3, startFakeS3 } from "../../testing/fake_s3.ts";
import { processEnv, reap, spawnParley } from "../../testing/parley_process.ts";
import { createLogger } from "../../src/log.ts";
import { RecordingsDir } from "../../src/recordings/recordings_dir.ts";
import { S3Recordings } from "../../src/recordings/s3_recordings.ts";
import { sweepRecordings } from "../../src/recordings/retention.ts";

const DAY_MS = 86_400_000;

/** Stores `key` in the fake bucket, `days` days old. */
async function storeObject(s3: FakeS3, key: string, days: number): Promise<void> {
  const client = new AwsClient({
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    region: "us-east-1",
    service: "s3",
  });
  const answer = await client.fetch(`${s3.bucketUrl}/${key}`, {
    method: "PUT",
    body: new Uint8Array(64),
    headers: { "Content-Type": "audio/wav" },
  });
  await answer.body?.cancel();
  assert.equal(answer.status, 200, `PUT ${key}`);
  if (days > 0) await s3.backdate(key, new Date(Date.now() - days * DAY_MS));
}

function bucketOf(s3: FakeS3, url: string, spool: RecordingsDir, log = createLogger({ sink: () => {} })) {
  return new S3Recordings(s3.settings(url), spool, log);
}

Deno.test("main.ts with RECORDING_RETENTION_DAYS and RECORDINGS_S3_URL deletes the bucket's old recordings at startup and logs them", async () => {
  await using s3 = await startFakeS3();
  // Old and new recordings under the prefix; old objects that are not its recordings.
  await storeObject(s3, "parley/CAold1.wav", 30);
  await storeObject(s3, "parley/CAold2.wav", 8);
  await storeObject(s3, "parley/CAnew.wav", 6);
  await storeObject(s3, "parley/notes.txt", 30);
  await storeObject(s3, "parley/archive/CAkept.wav", 30);
  await storeObject(s3, "other/CAelse.wav", 30);
  const dataDir = await Deno.makeTempDir();
  const parley = await spawnParley(
    "start",
    processEnv({ upstreamUrl: "ws://127.0.0.1:9", dataDir }, {
      RECORDINGS_S3_URL: `${s3.bucketUrl}/parley`,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      RECORDING_RETENTION_DAYS: "7",
    }),
  );
  try {
    const line = await parley.stdout.waitFor(
      /Deleted \d+ recording\(s\) older than 7 day\(s\) from RECORDINGS_S3_URL/,
      0,
      15_000,
    );
    assert.match(
      line,
      new RegExp(
        `Deleted 2 recording\\(s\\) older than 7 day\\(s\\) from RECORDINGS_S3_URL ${s3.bucketUrl}/parley ` +
          `\\(RECORDING_RETENTION_DAYS\\): CAold1, CAold2$`,
      ),
    );
    assert.deepEqual(await s3.keys(), [
      "other/CAelse.wav",
      "parley/CAnew.wav",
      "parley/archive/CAkept.wav",
      "parley/notes.txt",
    ]);
  } finally {
    await reap(parley);
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("the bucket sweep pages through the listing, and two instances sweeping the same bucket at once delete each recording without an error", async () => {
  await using s3 = await startFakeS3();
  const old = ["CA01", "CA02", "CA03", "CA04", "CA05", "CA06", "CA07"];
  for (const sid of old) await storeObject(s3, `${sid}.wav`, 10);
  await storeObject(s3, "CA08.wav", 1);
  await storeObject(s3, "CA09.wav", 0);
  const dir = await Deno.makeTempDir();
  const spool = new RecordingsDir(dir);
  const lines: string[] = [];
  const log = createLogger({
    sink: (level, line) => lines.push(`${level} ${line.replace(/^\[Realtime\] /, "")}`),
  });
  try {
    // Pages of 2 keys: seven old recordings are spread over five pages.
    const [first, second] = await Promise.all([
      sweepRecordings(spool, { days: 7, log, bucket: bucketOf(s3, s3.bucketUrl, spool), bucketPageSize: 2 }),
      sweepRecordings(spool, { days: 7, log, bucket: bucketOf(s3, s3.bucketUrl, spool), bucketPageSize: 2 }),
    ]);
    assert.deepEqual([...new Set([...first!, ...second!])].sort(), old);
    assert.deepEqual(lines.filter((line) => !line.startsWith("info ")), [], "no error, no warning");
    assert.ok(
      lines.length > 0 && lines.every((line) => / from RECORDINGS_S3_URL /.test(line)),
      lines.join("\n"),
    );
    assert.deepEqual(await s3.keys(), ["CA08.wav", "CA09.wav"]);

    lines.length = 0;
    const again = await sweepRecordings(spool, { days: 7, log, bucket: bucketOf(s3, s3.bucketUrl, spool) });
    assert.deepEqual(again, []);
    assert.deepEqual(lines, [], "a sweep that deletes nothing is silent");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failing bucket is logged, the folder is still swept, and the next sweep deletes what was left", async () => {
  await using s3 = await startFakeS3();
  await storeObject(s3, "CAold.wav", 10);
  const dir = await Deno.makeTempDir();
  let now = Date.now() - 10 * DAY_MS;
  const spool = new RecordingsDir(dir, () => now);
  spool.start("CAlocal", (error) => assert.fail(`recording failed: ${error}`)).finish(0, 0);
  await spool.settle();
  now = Date.now();
  const lines: string[] = [];
  const log = createLogger({
    sink: (level, line) => lines.push(`${level} ${line.replace(/^\[Realtime\] /, "")}`),
  });
  try {
    const unreachable = bucketOf(s3, "http://127.0.0.1:9/recordings", spool);
    assert.deepEqual(await sweepRecordings(spool, { days: 7, log, bucket: unreachable }), ["CAlocal"]);
    const refused = new S3Recordings(
      { url: s3.bucketUrl, accessKeyId: "AKIAUNKNOWN", secretAccessKey: "wrong", region: "us-east-1" },
      spool,
      log,
    );
    assert.deepEqual(await sweepRecordings(spool, { days: 7, log, bucket: refused }), []);
    assert.equal(
      lines[0],
      "info Deleted 1 recording(s) older than 7 day(s) (RECORDING_RETENTION_DAYS): CAlocal",
    );
    assert.match(
      lines[1]!,
      /^error Recording retention sweep of RECORDINGS_S3_URL http:\/\/127\.0\.0\.1:9\/recordings failed: .+; the rest is tried again at the next sweep$/,
    );
    assert.match(
      lines[2]!,
      /^error Recording retention sweep of RECORDINGS_S3_URL http:\/\/127\.0\.0\.1:\d+\/recordings failed: listing answered HTTP 403 .*InvalidAccessKeyId/,
    );
    assert.equal(lines.length, 3);
    assert.deepEqual(await s3.keys(), ["CAold.wav"]);

    const up = bucketOf(s3, s3.bucketUrl, spool);
    assert.deepEqual(await sweepRecordings(spool, { days: 7, log, bucket: up }), ["CAold"]);
    assert.deepEqual(await s3.keys(), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
