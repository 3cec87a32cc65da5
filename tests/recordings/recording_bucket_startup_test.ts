/**
 * A bucket that is down must not keep Parley from listening. Recordings left in the spool (an upload
 * that failed, a recording repaired at startup) are uploaded at startup; a bucket answering 5xx makes
 * `npm:aws4fetch` retry each request for up to ~50 s (measured on the old code: 60 s before listening
 * with two recordings left), and one that never answers holds the upload for good. Here the bucket
 * holds its answer: `main.ts` listens all the same, with the upload still waiting.
 */

import assert from "node:assert/strict";
import { RecordingsDir } from "../../src/recordings/recordings_dir.ts";
import { listeningPort, processEnv, reap, spawnParley } from "../../testing/parley_process.ts";
import { within } from "../../testing/within.ts";

/** A bucket that takes every request and answers none until `release()`, then answers 503. */
function startStalledBucket() {
  const requests: string[] = [];
  let arrived!: () => void;
  const first = new Promise<void>((resolve) => arrived = resolve);
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    requests.push(`${request.method} ${new URL(request.url).pathname}`);
    arrived();
    await request.body?.cancel();
    await released;
    return new Response("<Error><Code>ServiceUnavailable</Code></Error>", { status: 503 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/recordings`,
    requests,
    first,
    async close() {
      release();
      await server.shutdown();
    },
  };
}

Deno.test("main.ts listens while the bucket has not answered the upload of the recordings left in the spool", async () => {
  const bucket = startStalledBucket();
  const dataDir = await Deno.makeTempDir({ prefix: "parley_bucket_startup_" });
  const spool = new RecordingsDir(`${dataDir}/recordings`);
  for (const callSid of ["CAleft1", "CAleft2"]) {
    spool.start(callSid, (error) => assert.fail(`recording failed: ${error}`)).finish(0, 0);
  }
  await spool.settle();
  const parley = await spawnParley(
    "start",
    processEnv({ upstreamUrl: "ws://127.0.0.1:9", dataDir }, {
      RECORDINGS_S3_URL: bucket.url,
      AWS_ACCESS_KEY_ID: "AKIATESTBUCKETDOWN",
      AWS_SECRET_ACCESS_KEY: "bucket-down-secret",
    }),
  );
  try {
    const port = await listeningPort(parley);
    await within(bucket.first, "the upload of a recording left in the spool");
    assert.match(bucket.requests[0]!, /^PUT \/recordings\/CAleft[12]\.wav$/);
    // It answers requests meanwhile.
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    await health.body?.cancel();
    assert.equal(health.status, 200);
  } finally {
    await reap(parley);
    await bucket.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
