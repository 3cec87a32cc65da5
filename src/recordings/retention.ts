/**
 * `RECORDING_RETENTION_DAYS`: recordings older than that are deleted at startup and then once a day, in
 * the local folder and, with `RECORDINGS_S3_URL`, in the bucket; each sweep that deletes any says so in
 * the log. A bucket that fails is logged and swept again at the next sweep; several instances sweeping
 * the same bucket is harmless.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { RecordingsDir } from "./recordings_dir.ts";
import type { S3Recordings } from "./s3_recordings.ts";
import { errorText } from "../log.ts";

/** How often the sweep runs after the first, ms. */
export const RETENTION_SWEEP_MS = 24 * 60 * 60 * 1000;

/** What a sweep needs besides the folder. */
export interface RetentionOptions {
  /** Recordings older than this many days are deleted. */
  days: number;
  log: Logger;
  /** The bucket of `RECORDINGS_S3_URL`, swept too. */
  bucket?: S3Recordings;
  /** Keys per listing page of the bucket (tests). @default 1000 */
  bucketPageSize?: number;
}

function listed(sids: string[]): string {
  return `${sids.slice(0, 5).join(", ")}${sids.length > 5 ? ", …" : ""}`;
}

/**
 * Deletes recordings older than `options.days` now, in the folder and then the bucket; logs what it
 * deleted, and a bucket's failure. Resolves with the CallSids deleted; rejects only when the folder fails
 * (after sweeping the bucket all the same).
 */
export async function sweepRecordings(
  recordings: RecordingsDir,
  options: RetentionOptions,
): Promise<string[]> {
  const { days, log, bucket } = options;
  let deleted: string[] = [];
  let folderFailure: { error: unknown } | undefined;
  try {
    deleted = await recordings.deleteOlderThan(days);
  } catch (error) {
    folderFailure = { error };
  }
  if (deleted.length > 0) {
    log.info(
      `Deleted ${deleted.length} recording(s) older than ${days} day(s) (RECORDING_RETENTION_DAYS): ` +
        listed(deleted),
    );
  }
  if (bucket === undefined) {
    if (folderFailure !== undefined) throw folderFailure.error;
    return deleted;
  }
  const swept = await bucket.deleteOlderThan(
    days,
    options.bucketPageSize === undefined ? {} : { pageSize: options.bucketPageSize },
  );
  if (swept.deleted.length > 0) {
    log.info(
      `Deleted ${swept.deleted.length} recording(s) older than ${days} day(s) from RECORDINGS_S3_URL ` +
        `${bucket.url} (RECORDING_RETENTION_DAYS): ${listed(swept.deleted)}`,
    );
  }
  if (swept.failure !== undefined) {
    log.error(
      `Recording retention sweep of RECORDINGS_S3_URL ${bucket.url} failed: ${swept.failure}; ` +
        "the rest is tried again at the next sweep",
    );
  }
  if (folderFailure !== undefined) throw folderFailure.error;
  return [...new Set([...deleted, ...swept.deleted])].sort();
}

/** Sweeps now, then every {@linkcode RETENTION_SWEEP_MS}; returns the function that stops it. */
export function keepRecordingsFor(recordings: RecordingsDir, options: RetentionOptions): () => void {
  const sweep = () => {
    sweepRecordings(recordings, options).catch((error) => {
      const detail = errorText(error);
      options.log.error(`Recording retention sweep failed in ${recordings.dir}: ${detail}`);
    });
  };
  sweep();
  const timer = setInterval(sweep, RETENTION_SWEEP_MS);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
