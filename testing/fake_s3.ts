/**
 * A local S3-compatible server for the recording tests: `npm:s3rver` on 127.0.0.1, port 0, storing in
 * a temporary folder, with one bucket. It speaks S3's REST API (PUT, HEAD, GET with Range, DELETE,
 * ListObjectsV2, multipart uploads with their abort) as the recordings' client uses it. An object's
 * `LastModified` is its file's mtime, so {@linkcode FakeS3.backdate} ages it for the retention tests.
 *
 * @module
 */

import S3rver from "s3rver";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { dirname } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { S3Settings } from "../src/recordings_config.ts";

/** What the listing and abort middlewares use of Koa's context. */
interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | undefined>;
  get(header: string): string;
  status: number;
  type: string;
  body: string;
}

/** s3rver's answer to an unknown access key, as S3's. */
const INVALID_ACCESS_KEY = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidAccessKeyId</Code>' +
  "<Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>";

/** True when the request is signed with s3rver's access key (it checks no more of a V4 signature). */
function knownAccessKey(ctx: KoaContext): boolean {
  return /Credential=([^/]+)\//.exec(ctx.get("Authorization"))?.[1] === "S3RVER";
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * ListObjectsV2 from s3rver's store: prefix, delimiter, max-keys, start-after and continuation tokens
 * (the last key listed, base64), under s3rver's own access-key check.
 */
// deno-lint-ignore no-explicit-any
async function listObjectsV2(ctx: KoaContext, store: any, bucket: string): Promise<void> {
  ctx.type = "application/xml";
  if (!knownAccessKey(ctx)) {
    ctx.status = 403;
    ctx.body = INVALID_ACCESS_KEY;
    return;
  }
  const token = ctx.query["continuation-token"];
  const prefix = ctx.query["prefix"] ?? "";
  const delimiter = ctx.query["delimiter"] ?? "";
  const maxKeys = Math.min(1000, Number(ctx.query["max-keys"] ?? 1000));
  const startAfter = token === undefined ? ctx.query["start-after"] ?? "" : atob(token);
  // s3rver walks the folder and stats each file: a DELETE between the two fails the walk (ENOENT), or
  // leaves a page that says it is truncated with none of its keys left (so no position to go on from),
  // where S3 would list without them and always give a truncated page its NextContinuationToken. Walked
  // again, up to 10 times (a 500 would be retried by the client with back-off, for seconds).
  let result;
  for (let walks = 1;; walks++) {
    try {
      result = await store.listObjects(bucket, { prefix, delimiter, startAfter, maxKeys });
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOENT" || walks === 10) throw error;
      continue;
    }
    const emptyTruncated = result.isTruncated === true && result.objects.length === 0 &&
      result.commonPrefixes.length === 0;
    if (!emptyTruncated || walks === 10) break;
  }
  const objects: { key: string; lastModifiedDate: Date; size: number }[] = result.objects;
  const last = objects.at(-1)?.key;
  ctx.status = 200;
  ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucket}</Name>` +
    `<Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${objects.length}</KeyCount>` +
    `<MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${result.isTruncated === true}</IsTruncated>` +
    (result.isTruncated === true && last !== undefined
      ? `<NextContinuationToken>${btoa(last)}</NextContinuationToken>`
      : "") +
    objects.map((object) =>
      `<Contents><Key>${xmlEscape(object.key)}</Key>` +
      `<LastModified>${object.lastModifiedDate.toISOString()}</LastModified>` +
      `<Size>${object.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`
    ).join("") +
    (result.commonPrefixes as string[]).map((p) =>
      `<CommonPrefixes><Prefix>${xmlEscape(p)}</Prefix></CommonPrefixes>`
    )
      .join("") +
    "</ListBucketResult>";
}

/**
 * AbortMultipartUpload (`DELETE /<bucket>/<key>?uploadId=…`), which s3rver lacks (it answers 405): the
 * upload's parts (s3rver keeps them in `uploads`, a folder per upload) are removed; 204, or 404
 * NoSuchUpload for an upload it does not hold.
 */
async function abortMultipartUpload(ctx: KoaContext, uploads: string, uploadId: string): Promise<void> {
  ctx.type = "application/xml";
  if (!knownAccessKey(ctx)) {
    ctx.status = 403;
    ctx.body = INVALID_ACCESS_KEY;
    return;
  }
  try {
    // s3rver's ids are hex: anything else names no upload (and no path outside the folder).
    if (!/^[0-9a-f]+$/.test(uploadId)) throw new Deno.errors.NotFound(uploadId);
    await Deno.remove(`${uploads}/${uploadId}`, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    ctx.status = 404;
    ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code>' +
      "<Message>The specified upload does not exist.</Message></Error>";
    return;
  }
  ctx.status = 204;
  ctx.body = "";
}

/** The part of s3rver's `FilesystemStore` that {@linkcode storeBeforeAnswering} replaces and uses. */
interface S3rverObjectStore {
  getResourcePath(bucket: string, key: string, kind: "object"): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  putObject(
    object: { bucket: string; key: string; content: Buffer | Readable; metadata: unknown },
  ): Promise<{ size: number; md5: string }>;
}

/**
 * S3 answers a PUT once the object is stored. s3rver's `putObject` resolves when its hashing stream has
 * read the body, before the file stream has written it: an object backdated right after its PUT could
 * get its mtime (its `LastModified`) bumped back to now by that late write, and a retention sweep then
 * find nothing old (a flake under load). This one resolves after the file is written, with the same
 * size, MD5 and metadata.
 */
function storeBeforeAnswering(store: S3rverObjectStore): void {
  store.putObject = async (object) => {
    const path = store.getResourcePath(object.bucket, object.key, "object");
    await Deno.mkdir(dirname(path), { recursive: true });
    const md5 = createHash("md5");
    let size = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        md5.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const content = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
    await pipeline(content, counted, createWriteStream(path));
    const digest = md5.digest("hex");
    await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
  };
}

/** A running fake S3 with one bucket. */
export interface FakeS3 extends AsyncDisposable {
  /** `http://127.0.0.1:<port>/<bucket>`: the bucket's URL, as RECORDINGS_S3_URL takes it. */
  bucketUrl: string;
  /** The credentials s3rver accepts. */
  accessKeyId: string;
  secretAccessKey: string;
  /**
   * What RECORDINGS_S3_URL and the AWS_* variables would give Parley for this fake: its bucket (or
   * `url`, e.g. the bucket with a prefix) and its credentials.
   */
  settings(url?: string): S3Settings;
  /** Makes `key`'s `LastModified` `date` (as if stored then). */
  backdate(key: string, date: Date): Promise<void>;
  /** The bucket's keys, sorted, as the server's own store holds them. */
  keys(): Promise<string[]>;
  /** The ids of the multipart uploads begun and neither completed nor aborted, sorted. */
  uploads(): Promise<string[]>;
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
  // Listing pages: s3rver's continuation tokens are DES-encrypted, and Deno's node:crypto has no DES
  // (a truncated listing answers 500), so ListObjectsV2 is answered here, from s3rver's own store.
  server.middleware.unshift(async (ctx: KoaContext, next: () => Promise<void>) => {
    if (ctx.method !== "GET" || ctx.path !== `/${bucket}` || ctx.query["list-type"] !== "2") return next();
    await listObjectsV2(ctx, server.store, bucket);
  });
  const uploads = server.store.getResourcePath(bucket, undefined, "uploads");
  server.middleware.unshift(async (ctx: KoaContext, next: () => Promise<void>) => {
    const uploadId = ctx.query["uploadId"];
    if (ctx.method !== "DELETE" || !ctx.path.startsWith(`/${bucket}/`) || uploadId === undefined) {
      return next();
    }
    await abortMultipartUpload(ctx, uploads, uploadId);
  });
  storeBeforeAnswering(server.store);
  const { port } = await server.run();
  const close = async () => {
    // Closing waits for every connection to end: the clients' idle keep-alive ones too, which they may
    // keep for minutes. They are closed here (as S3 may close an idle connection at any time).
    const closed = server.close();
    server.httpServer.closeAllConnections();
    await closed;
    await Deno.remove(directory, { recursive: true });
  };
  const bucketUrl = `http://127.0.0.1:${port}/${bucket}`;
  return {
    settings: (url = bucketUrl) => ({
      url,
      accessKeyId: "S3RVER",
      secretAccessKey: "S3RVER",
      region: "us-east-1",
    }),
    backdate: async (key, date) => {
      await Deno.utime(server.store.getResourcePath(bucket, key, "object"), date, date);
    },
    keys: async () => {
      const { objects } = await server.store.listObjects(bucket, {});
      return objects.map((object: { key: string }) => object.key).sort();
    },
    uploads: async () => {
      const ids = [];
      try {
        for await (const entry of Deno.readDir(uploads)) ids.push(entry.name);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      return ids.sort();
    },
    bucketUrl,
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
    close,
    [Symbol.asyncDispose]: close,
  };
}
