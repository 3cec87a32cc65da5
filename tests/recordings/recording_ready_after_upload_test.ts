/**
 * With a bucket, a finished recording is announced (`recording.ready`, through the folder's
 * listeners) once its upload has ended, so the link the webhook carries works on every instance; an
 * upload that takes too long (a bucket answering 5xx, retried for up to ~50 s) does not hold the
 * announcement past a bound: the instance that has the local copy serves it meanwhile.
 */

import assert from "node:assert/strict";
import { RecordingsDir } from "../../src/recordings/recordings_dir.ts";
import { FRAME_BYTES } from "../../src/recordings/wav.ts";
import { within } from "../../testing/within.ts";

/** Records `callSid` for a moment and finishes it; resolves once the folder's work is done. */
async function recordAndFinish(spool: RecordingsDir, callSid: string): Promise<void> {
  const sink = spool.start(callSid, (error) => assert.fail(`recording failed: ${error}`));
  sink.write(new Uint8Array(400 * FRAME_BYTES).fill(1));
  sink.finish(400 * FRAME_BYTES, 50);
  await spool.settle();
}

Deno.test("a finished recording is announced once its upload has ended", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_ready_after_upload_" });
  try {
    const spool = new RecordingsDir(dir);
    const order: string[] = [];
    const uploaded = Promise.withResolvers<void>();
    const started = Promise.withResolvers<void>();
    spool.onFinished = async (info) => {
      order.push(`upload of ${info.callSid} started`);
      started.resolve();
      await uploaded.promise;
      order.push(`upload of ${info.callSid} ended`);
    };
    const announced = Promise.withResolvers<void>();
    spool.subscribe((info) => {
      order.push(`${info.callSid} announced (${info.state})`);
      announced.resolve();
    });
    const done = recordAndFinish(spool, "CAready1");
    // The upload is under way: nothing is announced until it ends.
    await within(started.promise, "the upload");
    assert.deepEqual(order, ["upload of CAready1 started"]);
    uploaded.resolve();
    await within(announced.promise, "the announcement");
    await done;
    assert.deepEqual(order, [
      "upload of CAready1 started",
      "upload of CAready1 ended",
      "CAready1 announced (complete)",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an upload that fails, or takes longer than the bound, still has its recording announced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_ready_after_upload_" });
  try {
    const spool = new RecordingsDir(dir, Date.now, { announceWaitMs: 50 });
    const announced: string[] = [];
    spool.subscribe((info) => announced.push(info.callSid));
    spool.onFinished = () => Promise.reject(new Error("the bucket is down"));
    await recordAndFinish(spool, "CAfailed");
    assert.deepEqual(announced, ["CAfailed"], "announced after the failed upload");
    const never = Promise.withResolvers<void>();
    spool.onFinished = () => never.promise;
    await recordAndFinish(spool, "CAslow");
    assert.deepEqual(announced, ["CAfailed", "CAslow"], "announced once the bound passed");
    never.resolve();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
