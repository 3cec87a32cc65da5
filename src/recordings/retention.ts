/**
 * `RECORDING_RETENTION_DAYS`: recordings older than that are deleted at startup and then once a day,
 * and each sweep that deletes any says so in the log.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { RecordingsDir } from "./recordings_dir.ts";

/** How often the sweep runs after the first, ms. */
export const RETENTION_SWEEP_MS = 24 * 60 * 60 * 1000;

/** Deletes recordings older than `days` now; logs what it deleted. Resolves with their CallSids. */
export async function sweepRecordings(
  recordings: RecordingsDir,
  days: number,
  log: Logger,
): Promise<string[]> {
  const deleted = await recordings.deleteOlderThan(days);
  if (deleted.length > 0) {
    log.info(
      `Deleted ${deleted.length} recording(s) older than ${days} day(s) (RECORDING_RETENTION_DAYS): ` +
        `${deleted.slice(0, 5).join(", ")}${deleted.length > 5 ? ", …" : ""}`,
    );
  }
  return deleted;
}

/** Sweeps now, then every {@linkcode RETENTION_SWEEP_MS}; returns the function that stops it. */
export function keepRecordingsFor(recordings: RecordingsDir, days: number, log: Logger): () => void {
  const sweep = () => {
    sweepRecordings(recordings, days, log).catch((error) => {
      const detail = error instanceof Error ? error.message : String(error);
      log.error(`Recording retention sweep failed in ${recordings.dir}: ${detail}`);
    });
  };
  sweep();
  const timer = setInterval(sweep, RETENTION_SWEEP_MS);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
