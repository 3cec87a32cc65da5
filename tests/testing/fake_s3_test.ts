import assert from "node:assert/strict";
import { AwsClient } from "aws4fetch";
import { startFakeS3 } from "../../testing/fake_s3.ts";

Deno.test("fake S3: concurrent PUTs each store the whole body, and a backdate right after the answer holds in the listing", async () => {
  await using s3 = await startFakeS3();
  const client = new AwsClient({
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    region: "us-east-1",
    service: "s3",
  });
  // A whole second: LastModified is listed to the second, as S3 does.
  const old = new Date(Math.floor((Date.now() - 10 * 24 * 3600_000) / 1000) * 1000);
  const keys = Array.from({ length: 40 }, (_, i) => `CA${String(i).padStart(2, "0")}.wav`);
  // Large enough bodies that the file is written in several chunks, all at once.
  await Promise.all(keys.map(async (key) => {
    const answer = await client.fetch(`${s3.bucketUrl}/${key}`, {
      method: "PUT",
      body: new Uint8Array(256 * 1024),
    });
    await answer.body?.cancel();
    assert.equal(answer.status, 200, key);
    await s3.backdate(key, old);
  }));
  const listing = await (await client.fetch(`${s3.bucketUrl}?list-type=2`)).text();
  const modified = [
    ...listing.matchAll(/<Key>([^<]+)<\/Key><LastModified>([^<]+)<\/LastModified><Size>(\d+)</g),
  ];
  assert.equal(modified.length, keys.length);
  for (const [, key, lastModified, size] of modified) {
    assert.equal(Number(size), 256 * 1024, `${key}: the whole body is stored`);
    assert.equal(lastModified, old.toISOString(), `${key}: LastModified is the backdated time`);
  }
});
