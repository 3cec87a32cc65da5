/**
 * Recordings in an S3-compatible bucket (`RECORDINGS_S3_URL`), for several instances behind one load
 * balancer: any instance serves any call's recording. A call is still recorded to `RECORDINGS_DIR` as it
 * goes (the crash-safe spool); when it ends (or startup repairs it) the WAV is uploaded with its state in
 * the object's metadata, and the local copy is removed: in one PUT up to a part's size, in parts
 * (`s3_multipart.ts`) above it, so an upload holds one part in memory, never the whole file. Requests are
 * signed (SigV4) by `npm:aws4fetch` with the standard `AWS_*` credentials.
 *
 * @module
 */

import { AwsClient } from "aws4fetch";
import type { Logger } from "../log.ts";
import type { S3Settings } from "../recordings_config.ts";
import { parseRange, recordingHeaders, type RecordingSource, serveWavFile } from "./serve_wav.ts";
import {
  isRecordableCallSid,
  type RecordingInfo,
  type RecordingsDir,
  type RecordingState,
} from "./recordings_dir.ts";
import { parseListing } from "./s3_listing.ts";
import { brief, PART_SIZE, uploadInParts } from "./s3_multipart.ts";
import { errorText } from "../log.ts";

/** Options for {@linkcode S3Recordings.deleteOlderThan}. */
export interface BucketSweepOptions {
  /** Epoch ms the ages are measured from. @default Date.now() */
  now?: number;
  /** Keys per listing page (S3 answers at most 1000). @default 1000 */
  pageSize?: number;
}

/** Options of {@linkcode S3Recordings}. */
export interface S3RecordingsOptions {
  /**
   * A recording larger than this is uploaded in parts of this size (S3 takes no part under 5 MiB but
   * the last); up to it, in one PUT. @default PART_SIZE (8 MiB)
   */
  partSize?: number;
}

/** What a bucket sweep did: the CallSids it deleted, and why it stopped early if it did. */
export interface BucketSweep {
  deleted: string[];
  /** The failure that ended the sweep (the bucket down, a refused request); the rest waits. */
  failure?: string;
}

/** DELETE requests a sweep keeps in flight at once. */
const DELETES_IN_FLIGHT = 8;

/** Recordings spooled in `local` and kept in the bucket. */
export class S3Recordings implements RecordingSource {
  readonly #base: string;
  readonly #client: AwsClient;
  readonly #local: RecordingsDir;
  readonly #log: Logger;
  readonly #partSize: number;

  /** A bucket at `settings.url`, spooling in `local`, reporting to `log`. */
  constructor(settings: S3Settings, local: RecordingsDir, log: Logger, options: S3RecordingsOptions = {}) {
    this.#base = settings.url;
    this.#client = new AwsClient({
      accessKeyId: settings.accessKeyId,
      secretAccessKey: settings.secretAccessKey,
      ...(settings.sessionToken === undefined ? {} : { sessionToken: settings.sessionToken }),
      region: settings.region,
      service: "s3",
    });
    this.#local = local;
    this.#log = log;
    this.#partSize = options.partSize ?? PART_SIZE;
  }

  #url(callSid: string): string {
    return `${this.#base}/${encodeURIComponent(callSid)}.wav`;
  }

  /**
   * Uploads a finished recording from the spool, then removes the local copy: in one PUT up to the part
   * size, in parts above it (one part in memory at a time). A failure is logged and leaves the local
   * copy (served from there, uploaded again at the next start); a multipart upload that fails is aborted.
   * Never rejects.
   */
  async upload(info: RecordingInfo): Promise<void> {
    const { callSid } = info;
    const path = this.#local.wavPath(callSid);
    const headers = {
      "Content-Type": "audio/wav",
      "x-amz-meta-state": info.state,
      "x-amz-meta-started-at": String(info.startedAt),
      "x-amz-meta-duration-ms": String(info.durationMs ?? 0),
    };
    try {
      const { size } = await Deno.stat(path);
      const bytes = size <= this.#partSize ? await this.#put(callSid, path, headers) : await uploadInParts({
        client: this.#client,
        url: this.#url(callSid),
        path,
        size,
        headers,
        partSize: this.#partSize,
        log: this.#log,
      });
      await this.#local.remove(callSid);
      this.#log.info(`Recording ${callSid} stored in ${this.#base} (${bytes} bytes, ${info.state})`);
    } catch (error) {
      const detail = errorText(error);
      this.#log.error(
        `Cannot store recording ${callSid} in RECORDINGS_S3_URL ${this.#base}: ${detail}; ` +
          `kept in ${this.#local.dir}, uploaded again at the next start`,
      );
    }
  }

  /** Uploads a recording no larger than a part in one PUT; resolves with its bytes. */
  async #put(callSid: string, path: string, headers: Record<string, string>): Promise<number> {
    const body = await Deno.readFile(path);
    const response = await this.#client.fetch(this.#url(callSid), { method: "PUT", body, headers });
    const text = await response.text();
    if (!response.ok) throw new Error(`HTTP ${response.status} ${brief(text)}`);
    return body.length;
  }

  /** Uploads every finished recording still in the spool (at startup, not awaited). Resolves with their CallSids. */
  async uploadPending(): Promise<string[]> {
    const pending = await this.#local.finished();
    for (const info of pending) await this.upload(info);
    return pending.map((info) => info.callSid);
  }

  /**
   * Deletes the recordings (`<prefix>/<CallSid>.wav`, nothing else in the bucket) stored more than
   * `days` days ago, by the objects' `LastModified` (the upload, when the call ended), paging through
   * ListObjectsV2. Another instance sweeping the same bucket at once is harmless: deleting an object
   * already gone succeeds (S3 answers 204; a 404 counts as gone too). Never rejects: a failure ends the
   * sweep and is returned with what was deleted before it.
   */
  async deleteOlderThan(days: number, options: BucketSweepOptions = {}): Promise<BucketSweep> {
    const cutoff = (options.now ?? Date.now()) - days * 86_400_000;
    const pageSize = options.pageSize ?? 1000;
    const base = new URL(this.#base);
    const [bucket, ...rest] = base.pathname.split("/").filter((part) => part !== "");
    const prefix = rest.map((part) => `${decodeURIComponent(part)}/`).join("");
    const deleted: string[] = [];
    try {
      let token: string | undefined;
      do {
        const list = new URL(`${base.origin}/${bucket}`);
        list.searchParams.set("list-type", "2");
        list.searchParams.set("prefix", prefix);
        list.searchParams.set("delimiter", "/");
        list.searchParams.set("max-keys", String(pageSize));
        if (token !== undefined) list.searchParams.set("continuation-token", token);
        const answer = await this.#client.fetch(list.href);
        const text = await answer.text();
        if (!answer.ok) {
          throw new Error(
            `listing answered HTTP ${answer.status} ${brief(text)}`,
          );
        }
        const page = parseListing(text);
        const old = page.objects.flatMap(({ key, lastModified }) => {
          const callSid = /^(.+)\.wav$/.exec(key.slice(prefix.length))?.[1];
          return key.startsWith(prefix) && callSid !== undefined && isRecordableCallSid(callSid) &&
              lastModified < cutoff
            ? [callSid]
            : [];
        });
        for (let i = 0; i < old.length; i += DELETES_IN_FLIGHT) {
          await Promise.all(
            old.slice(i, i + DELETES_IN_FLIGHT).map(async (callSid) => {
              const answer = await this.#client.fetch(this.#url(callSid), { method: "DELETE" });
              await answer.body?.cancel();
              if (!answer.ok && answer.status !== 404) {
                throw new Error(`DELETE ${callSid}.wav answered HTTP ${answer.status}`);
              }
              deleted.push(callSid);
            }),
          );
        }
        if (page.truncated && page.next === undefined) {
          throw new Error("listing is truncated but gave no NextContinuationToken");
        }
        token = page.truncated ? page.next : undefined;
      } while (token !== undefined);
      return { deleted: deleted.sort() };
    } catch (error) {
      return { deleted: deleted.sort(), failure: errorText(error) };
    }
  }

  /** The bucket's URL, as RECORDINGS_S3_URL resolved it (for the log). */
  get url(): string {
    return this.#base;
  }

  /** The object's size, bytes. */
  async #size(callSid: string): Promise<number> {
    const head = await this.#client.fetch(this.#url(callSid), { method: "HEAD" });
    await head.body?.cancel();
    if (!head.ok) throw new Error(`RECORDINGS_S3_URL: HEAD ${callSid}.wav answered ${head.status}`);
    return Number(head.headers.get("Content-Length") ?? 0);
  }

  /** The spool's state first (recording, or not uploaded yet), else the object's metadata. */
  async info(callSid: string): Promise<RecordingInfo | undefined> {
    const local = await this.#local.info(callSid);
    if (local !== undefined) return local;
    const head = await this.#client.fetch(this.#url(callSid), { method: "HEAD" });
    await head.body?.cancel();
    if (head.status === 404) return undefined;
    if (!head.ok) throw new Error(`RECORDINGS_S3_URL: HEAD ${callSid}.wav answered ${head.status}`);
    const state = head.headers.get("x-amz-meta-state");
    return {
      callSid,
      state: state === "repaired" ? "repaired" : "complete",
      startedAt: Number(head.headers.get("x-amz-meta-started-at") ?? 0),
      durationMs: Number(head.headers.get("x-amz-meta-duration-ms") ?? 0),
    };
  }

  /** From the spool if it is still there, else the bucket's answer to the same `Range`. */
  async serve(callSid: string, info: RecordingInfo, range: string | null): Promise<Response> {
    if ((await this.#local.info(callSid)) !== undefined) {
      return await serveWavFile(this.#local.wavPath(callSid), info.state, range);
    }
    const headers = recordingHeaders(info.state as RecordingState);
    // The range is resolved here against the object's size (one HEAD), so that every store answers a
    // suffix range or one past the end alike (some S3-compatible servers do not).
    let asked: string | undefined;
    if (range !== null) {
      const size = await this.#size(callSid);
      const wanted = parseRange(range, size);
      if (wanted === "unsatisfiable") {
        headers.set("Content-Range", `bytes */${size}`);
        return new Response(null, { status: 416, headers });
      }
      if (wanted !== undefined) asked = `bytes=${wanted.start}-${wanted.end}`;
    }
    const answer = await this.#client.fetch(
      this.#url(callSid),
      asked === undefined ? {} : { headers: { Range: asked } },
    );
    for (const name of ["Content-Length", "Content-Range"]) {
      const value = answer.headers.get(name);
      if (value !== null) headers.set(name, value);
    }
    if (answer.status === 200 || answer.status === 206) {
      return new Response(answer.body, { status: answer.status, headers });
    }
    await answer.body?.cancel();
    throw new Error(`RECORDINGS_S3_URL: GET ${callSid}.wav answered ${answer.status}`);
  }
}
