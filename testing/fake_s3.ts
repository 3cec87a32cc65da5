/**
 * A local S3-compatible server for the recording tests: `npm:s3rver` on 127.0.0.1, port 0, storing in
 * a temporary folder, with one bucket. It speaks S3's REST API (PUT, HEAD, GET with Range) as the
 * recordings' client uses it.
 *
 * @module
 */

import S3rver from "s3rver";

/** A running fake S3 with one bucket. */
export interface FakeS3 extends AsyncDisposable {
  /** `http://127.0.0.1:<port>/<bucket>`: the bucket's URL, as RECORDINGS_S3_URL takes it. */
  bucketUrl: string;
  /** The credentials s3rver accepts. */
  accessKeyId: string;
  secretAccessKey: string;
  close(): Promise<void>;
}

/** Starts s3rver with `bucket`. */
export async function startFakeS3(bucket = "recordings"): Promise<FakeS3> {
  const directory = await Deno.makeTempDir({ prefix: "parley_fake_s3_" });
  const server = new S3rver({
    port: 0,
    address: "127.0.0.1",
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  const close = async () => {
    await server.close();
    await Deno.remove(directory, { recursive: true });
  };
  return {
    bucketUrl: `http://127.0.0.1:${port}/${bucket}`,
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
    close,
    [Symbol.asyncDispose]: close,
  };
}
