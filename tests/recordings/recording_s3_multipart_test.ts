/**
 * A recording larger than the part size goes to the bucket (a local `npm:s3rver`) in parts: S3's
 * multipart upload, one part read from the file at a time. An HTTP proxy in front of the bucket notes
 * each request (which S3 operation, and its answer) and can answer one in the bucket's place: a part
 * refused, a CompleteMultipartUpload that fails after its 200, an abort refused. A failed upload is
 * aborted (the bucket keeps no parts), the local copy is kept and the log says so; up to the part size,
 * a recording still goes up in one PUT.
 */

import assert from "node:assert/strict";
import { AwsClient } from "aws4fetch";
import { type FakeS3, startFakeS3 } from "../../testing/fake_s3.ts";
import { createLogger } from "../../src/log.ts";
import { RecordingsDir } from "../../src/recordings/recordings_dir.ts";
import { S3Recordings } from "../../src/recordings/s3_recordings.ts";
import { FRAME_BYTES, WAV_HEADER_BYTES } from "../../src/recordings/wav.ts";

const MiB = 1024 * 1024;
/** S3's smallest part (but the last). */
const PART_SIZE = 5 * MiB;

/** The S3 operation a request is, by its method and query. */
function operation(method: string, query: URLSearchParams): string {
  if (method === "POST" && query.has("uploads")) return "CreateMultipartUpload";
  if (method === "PUT" && query.has("partNumber")) return `UploadPart ${query.get("partNumber")}`;
  if (method === "POST" && query.has("uploadId")) return "CompleteMultipartUpload";
  if (method === "DELETE" && query.has("uploadId")) return "AbortMultipartUpload";
  if (method === "PUT") return "PutObject";
  return `${method} ?${query}`;
}

/** An HTTP proxy in front of the fake S3. */
interface S3Proxy extends AsyncDisposable {
  /** The bucket's URL through the proxy. */
  bucketUrl: string;
  /** Each request, as `<operation> → <status>`, in order. */
  seen: string[];
  /** The ETags the parts were answered with, in order. */
  etags: string[];
  /** The body of the last CompleteMultipartUpload. */
  completion: string | undefined;
  /** Answers the operation in the bucket's place when it returns a response. */
  refuse: ((operation: string) => Response | undefined) | undefined;
}

function s3Error(status: number, code: string, message: string): Response {
  return new Response(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
    { status, headers: { "Content-Type": "application/xml" } },
  );
}

function startS3Proxy(s3: FakeS3): S3Proxy {
  const target = new URL(s3.bucketUrl);
  const proxy: S3Proxy = {
    bucketUrl: "",
    seen: [],
    etags: [],
    completion: undefined,
    refuse: undefined,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    const op = operation(request.method, url.searchParams);
    const body = request.body === null ? null : new Uint8Array(await request.arrayBuffer());
    if (op === "CompleteMultipartUpload") proxy.completion = new TextDecoder().decode(body ?? undefined);
    const headers = new Headers(request.headers);
    headers.delete("host");
    const answer = proxy.refuse?.(op) ??
      await fetch(`${target.origin}${url.pathname}${url.search}`, { method: request.method, headers, body });
    proxy.seen.push(`${op} → ${answer.status}`);
    const etag = answer.headers.get("ETag");
    if (op.startsWith("UploadPart") && etag !== null) proxy.etags.push(etag);
    return new Response(answer.body, { status: answer.status, headers: answer.headers });
  });
  proxy.bucketUrl = `http://127.0.0.1:${server.addr.port}${target.pathname}`;
  return proxy;
}

/** Records a finished (complete) recording of `fileBytes` bytes, random audio, in `spool`. */
async function recordOfSize(
  spool: RecordingsDir,
  callSid: string,
  fileBytes: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const dataBytes = fileBytes - WAV_HEADER_BYTES;
  const sink = spool.start(callSid, (error) => assert.fail(`recording failed: ${error}`));
  const chunk = new Uint8Array(64 * 1024);
  for (let written = 0; written < dataBytes; written += chunk.length) {
    crypto.getRandomValues(chunk);
    sink.write(chunk.subarray(0, Math.min(chunk.length, dataBytes - written)));
  }
  sink.finish(dataBytes, dataBytes / FRAME_BYTES / 8);
  await spool.settle();
  const wav = await Deno.readFile(spool.wavPath(callSid));
  assert.equal(wav.length, fileBytes);
  return wav;
}

async function filesIn(dir: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)).toHex();
}

/** A bucket behind a proxy, a spool, and the log's lines; everything closed by `await using`. */
async function setUp() {
  const s3 = await startFakeS3();
  const proxy = startS3Proxy(s3);
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  const log = createLogger({ sink: (level, line) => lines.push(`${level} ${line}`) });
  const spool = new RecordingsDir(dir);
  const bucket = new S3Recordings(s3.settings(proxy.bucketUrl), spool, log, { partSize: PART_SIZE });
  const client = new AwsClient({
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    region: "us-east-1",
    service: "s3",
  });
  return {
    s3,
    proxy,
    dir,
    lines,
    spool,
    bucket,
    client,
    [Symbol.asyncDispose]: async () => {
      await proxy[Symbol.asyncDispose]();
      await s3.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("a recording larger than the part size goes to the bucket in parts, byte for byte with its metadata; up to it, in one PUT", async () => {
  await using t = await setUp();
  const wav = await recordOfSize(t.spool, "CAlarge", 11 * MiB);
  const info = await t.spool.info("CAlarge");
  assert.deepEqual(await t.bucket.uploadPending(), ["CAlarge"]);

  assert.deepEqual(t.proxy.seen, [
    "CreateMultipartUpload → 200",
    "UploadPart 1 → 200",
    "UploadPart 2 → 200",
    "UploadPart 3 → 200",
    "CompleteMultipartUpload → 200",
  ]);
  assert.equal(t.proxy.etags.length, 3);
  const listed = [
    ...t.proxy.completion!.matchAll(/<Part><PartNumber>(\d+)<\/PartNumber><ETag>([^<]+)<\/ETag>/g),
  ];
  assert.deepEqual(
    listed.map(([, n, etag]) => [Number(n), etag]),
    t.proxy.etags.map((etag, i) => [i + 1, etag]),
  );
  assert.match(
    t.lines.join("\n"),
    new RegExp(`Recording CAlarge stored in ${t.proxy.bucketUrl} \\(${11 * MiB} bytes, complete\\)`),
  );
  assert.deepEqual(await filesIn(t.dir), [], "the local copy is removed once stored");
  assert.deepEqual(await t.s3.uploads(), [], "the upload is completed");

  const stored = await t.client.fetch(`${t.s3.bucketUrl}/CAlarge.wav`);
  assert.equal(stored.status, 200);
  assert.equal(stored.headers.get("Content-Type"), "audio/wav");
  assert.equal(await sha256(new Uint8Array(await stored.arrayBuffer())), await sha256(wav), "byte for byte");
  assert.equal(info?.state, "complete");
  assert.deepEqual(await t.bucket.info("CAlarge"), info, "the metadata: state, start, duration");

  // Exactly a part's size: one PUT, as before.
  t.proxy.seen.length = 0;
  const small = await recordOfSize(t.spool, "CAsmall", PART_SIZE);
  assert.deepEqual(await t.bucket.uploadPending(), ["CAsmall"]);
  assert.deepEqual(t.proxy.seen, ["PutObject → 200"]);
  assert.match(
    t.lines.join("\n"),
    new RegExp(`Recording CAsmall stored in .* \\(${PART_SIZE} bytes, complete\\)`),
  );
  const one = await t.client.fetch(`${t.s3.bucketUrl}/CAsmall.wav`);
  assert.equal(await sha256(new Uint8Array(await one.arrayBuffer())), await sha256(small));
  assert.deepEqual(await t.s3.keys(), ["CAlarge.wav", "CAsmall.wav"]);
});

Deno.test("a part the bucket refuses aborts the multipart upload and keeps the local copy; the next start uploads it", async () => {
  await using t = await setUp();
  await recordOfSize(t.spool, "CAlarge", 11 * MiB);
  // Credentials that expire during the upload (AWS_SESSION_TOKEN): the second part is refused.
  t.proxy.refuse = (op) =>
    op === "UploadPart 2" ? s3Error(400, "ExpiredToken", "The provided token has expired.") : undefined;
  assert.deepEqual(await t.bucket.uploadPending(), ["CAlarge"]);

  assert.deepEqual(t.proxy.seen, [
    "CreateMultipartUpload → 200",
    "UploadPart 1 → 200",
    "UploadPart 2 → 400",
    "AbortMultipartUpload → 204",
  ]);
  assert.match(
    t.lines.join("\n"),
    new RegExp(
      `error .*Cannot store recording CAlarge in RECORDINGS_S3_URL ${t.proxy.bucketUrl}: ` +
        `UploadPart 2 answered HTTP 400 .*ExpiredToken.*; kept in ${t.dir}, uploaded again at the next start`,
    ),
  );
  assert.doesNotMatch(t.lines.join("\n"), /stored in/);
  assert.deepEqual(await filesIn(t.dir), ["CAlarge.json", "CAlarge.wav"]);
  assert.deepEqual(await t.s3.uploads(), [], "the aborted upload left no parts");
  assert.deepEqual(await t.s3.keys(), []);

  // Next start, new credentials.
  t.proxy.refuse = undefined;
  assert.deepEqual(await t.bucket.uploadPending(), ["CAlarge"]);
  assert.deepEqual(await filesIn(t.dir), []);
  assert.deepEqual(await t.s3.keys(), ["CAlarge.wav"]);
  assert.deepEqual(await t.s3.uploads(), []);
});

Deno.test("a CompleteMultipartUpload answered 200 with an <Error> is a failure: the upload is aborted, the local copy kept", async () => {
  await using t = await setUp();
  await recordOfSize(t.spool, "CAlarge", 11 * MiB);
  // S3 answers 200 at once and sends the outcome when the parts are assembled: here, a failure.
  t.proxy.refuse = (op) =>
    op === "CompleteMultipartUpload"
      ? new Response(
        '\n  \n<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>' +
          "<Message>We encountered an internal error. Please try again.</Message></Error>",
        { status: 200, headers: { "Content-Type": "application/xml" } },
      )
      : undefined;
  assert.deepEqual(await t.bucket.uploadPending(), ["CAlarge"]);

  assert.deepEqual(t.proxy.seen.slice(-2), ["CompleteMultipartUpload → 200", "AbortMultipartUpload → 204"]);
  assert.match(
    t.lines.join("\n"),
    /error .*Cannot store recording CAlarge in RECORDINGS_S3_URL .*: CompleteMultipartUpload failed: .*InternalError.*; kept in .*, uploaded again at the next start/,
  );
  assert.deepEqual(await filesIn(t.dir), ["CAlarge.json", "CAlarge.wav"]);
  assert.deepEqual(await t.s3.uploads(), []);
  assert.deepEqual(await t.s3.keys(), []);
});

Deno.test("an abort the bucket refuses is logged beside the failure; the local copy is kept", async () => {
  await using t = await setUp();
  await recordOfSize(t.spool, "CAlarge", 11 * MiB);
  t.proxy.refuse = (op) =>
    op === "UploadPart 3"
      ? s3Error(403, "AccessDenied", "Access Denied")
      : op === "AbortMultipartUpload"
      ? s3Error(403, "AccessDenied", "Access Denied")
      : undefined;
  assert.deepEqual(await t.bucket.uploadPending(), ["CAlarge"]);

  assert.deepEqual(t.proxy.seen.slice(-2), ["UploadPart 3 → 403", "AbortMultipartUpload → 403"]);
  const log = t.lines.join("\n");
  assert.match(
    log,
    /warn .*Cannot abort the multipart upload [0-9a-f]+ of .*CAlarge\.wav: AbortMultipartUpload answered HTTP 403 .*AccessDenied/,
  );
  assert.match(
    log,
    /error .*Cannot store recording CAlarge in RECORDINGS_S3_URL .*: UploadPart 3 answered HTTP 403 .*; kept in /,
  );
  assert.deepEqual(await filesIn(t.dir), ["CAlarge.json", "CAlarge.wav"]);
  assert.equal(
    (await t.s3.uploads()).length,
    1,
    "the bucket still holds the parts the abort could not remove",
  );
  assert.deepEqual(await t.s3.keys(), []);
});
