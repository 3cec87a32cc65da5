/**
 * What decides recording besides the call: the persona fields (`record`, `recordingDisclosure`), the
 * variables (`RECORDINGS_DIR`, `RECORDING_RETENTION_DAYS`), and the retention sweep that deletes old
 * recordings and says so in the log.
 */

import assert from "node:assert/strict";
import { checkConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { validatePersona } from "../../src/personas/validate.ts";
import { RecordingsDir } from "../../src/recordings/recordings_dir.ts";
import { sweepRecordings } from "../../src/recordings/retention.ts";
import { createRecordingHandler } from "../../src/api/recording_route.ts";
import { folderSource } from "../../src/recordings/serve_wav.ts";
import { WAV_HEADER_BYTES } from "../../src/recordings/wav.ts";

const FILE = "personas/test.ts";

function problemsOf(fields: Record<string, unknown>): string[] {
  return validatePersona({ voice: "marin", instructions: "Be helpful.", ...fields }, FILE).problems;
}

Deno.test("record and recordingDisclosure are checked at persona load, each problem naming its field", () => {
  assert.deepEqual(
    problemsOf({ record: true, greeting: "Hi.", recordingDisclosure: "This call is recorded." }),
    [],
  );
  assert.deepEqual(problemsOf({}), [], "off by default");
  assert.match(problemsOf({ record: "yes" }).join("\n"), /record: "yes" is not true or false/);
  assert.match(
    problemsOf({ greeting: "Hi.", recordingDisclosure: "Recorded." }).join("\n"),
    /recordingDisclosure: is set but record is not true/,
  );
  assert.match(
    problemsOf({ record: true, recordingDisclosure: "Recorded." }).join("\n"),
    /recordingDisclosure: needs a greeting/,
  );
  assert.match(
    problemsOf({ record: true, greeting: "Hi.", recordingDisclosure: " " }).join("\n"),
    /recordingDisclosure: .*not a line of text/,
  );
});

Deno.test("RECORDINGS_DIR defaults to DATA_DIR/recordings; RECORDING_RETENTION_DAYS must be days above 0", () => {
  const base = { OPENAI_API_KEY: "sk-settings-0123456789", PUBLIC_BASE_URL: "https://parley.test" };
  assert.equal(
    checkConfig({ ...base, DATA_DIR: "/srv/parley" }).config.recordingsDir,
    "/srv/parley/recordings",
  );
  assert.equal(checkConfig({ ...base, RECORDINGS_DIR: "/mnt/rec" }).config.recordingsDir, "/mnt/rec");
  assert.equal(checkConfig(base).config.recordingRetentionDays, undefined, "kept forever by default");
  assert.equal(checkConfig({ ...base, RECORDING_RETENTION_DAYS: "30" }).config.recordingRetentionDays, 30);
  for (const bad of ["0", "-1", "soon"]) {
    const { problems } = checkConfig({ ...base, RECORDING_RETENTION_DAYS: bad });
    assert.ok(
      problems.some((p) =>
        p.startsWith(`RECORDING_RETENTION_DAYS: "${bad}" is not a number of days above 0`)
      ),
      problems.join("\n"),
    );
  }
});

Deno.test("the retention sweep deletes recordings older than the days given, never one recording, and logs it", async () => {
  const dir = await Deno.makeTempDir();
  let now = Date.UTC(2026, 0, 1);
  const recordings = new RecordingsDir(dir, () => now);
  const refuse = (error: unknown) => assert.fail(`recording failed: ${error}`);
  const finished = async (callSid: string) => {
    recordings.start(callSid, refuse).finish(0, 0);
    await recordings.settle();
  };
  try {
    await finished("CAold");
    const live = recordings.start("CAlive", refuse); // still recording
    now += 10 * 86_400_000;
    await finished("CAnew");
    now += 1 * 86_400_000;
    const lines: string[] = [];
    const log = createLogger({ sink: (_level, line) => lines.push(line) });
    assert.deepEqual(await sweepRecordings(recordings, { days: 7, log }), ["CAold"]);
    assert.match(
      lines.join("\n"),
      /Deleted 1 recording\(s\) older than 7 day\(s\) \(RECORDING_RETENTION_DAYS\): CAold/,
    );
    const left = [];
    for await (const entry of Deno.readDir(dir)) left.push(entry.name);
    assert.deepEqual(left.sort(), ["CAlive.json", "CAlive.wav", "CAnew.json", "CAnew.wav"]);
    assert.deepEqual(await sweepRecordings(recordings, { days: 7, log }), [], "nothing more to delete");
    assert.equal(lines.length, 1, "a sweep that deletes nothing is silent");
    live.finish(0, 0);
    await recordings.settle();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RECORDINGS_S3_URL needs a bucket URL and AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, each named", () => {
  const base = { OPENAI_API_KEY: "sk-settings-0123456789", PUBLIC_BASE_URL: "https://parley.test" };
  assert.equal(checkConfig(base).config.recordingsS3, undefined, "the folder only by default");
  const ok = checkConfig({
    ...base,
    RECORDINGS_S3_URL: "s3://calls/parley",
    AWS_ACCESS_KEY_ID: "AKIAEXAMPLE",
    AWS_SECRET_ACCESS_KEY: "secret-example",
    AWS_REGION: "eu-west-3",
  });
  assert.deepEqual(ok.problems, []);
  assert.deepEqual(ok.config.recordingsS3, {
    url: "https://s3.eu-west-3.amazonaws.com/calls/parley",
    accessKeyId: "AKIAEXAMPLE",
    secretAccessKey: "secret-example",
    region: "eu-west-3",
  });
  const { problems } = checkConfig({ ...base, RECORDINGS_S3_URL: "ftp://calls" });
  assert.ok(
    problems.some((p) => p.startsWith('RECORDINGS_S3_URL: "ftp://calls" is not a bucket URL')),
    problems.join("\n"),
  );
  assert.ok(
    problems.some((p) =>
      p.startsWith("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: not set, and RECORDINGS_S3_URL needs them")
    ),
    problems.join("\n"),
  );
});

Deno.test("the recording route answers 409 while the call is recorded, 400 for a bad CallSid encoding", async () => {
  const dir = await Deno.makeTempDir();
  const recordings = new RecordingsDir(dir);
  const handler = createRecordingHandler(folderSource(recordings));
  try {
    const sink = recordings.start("CAlive", (error) => assert.fail(`recording failed: ${error}`));
    await recordings.settle();
    const live = await handler(new Request("http://x/"), { params: { callSid: "CAlive" } });
    assert.equal(live.status, 409);
    assert.match((await live.json()).error, /"CAlive" is still being recorded/);
    sink.finish(0, 0);
    await recordings.settle();
    const done = await handler(new Request("http://x/"), { params: { callSid: "CAlive" } });
    assert.equal(done.status, 200);
    assert.equal((await done.arrayBuffer()).byteLength, WAV_HEADER_BYTES, "a header and no data");
    const bad = await handler(new Request("http://x/"), { params: { callSid: "%E0%A4%A" } });
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
