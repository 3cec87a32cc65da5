/**
 * The folders Parley writes, checked before anything is written: `DATA_DIR` (the call database) and
 * `RECORDINGS_DIR`. Each problem line names the variable, what is in the way and what to do; the
 * checks create nothing.
 *
 * @module
 */

import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { errorText } from "./log.ts";

/**
 * The problem line for a call database that cannot be opened at `databasePath` (`why`: the error, or
 * what is in the way), naming DATA_DIR and what to do: the server's start, its check before opening,
 * and `deno task rehearse`'s in-process Parley.
 */
export function callDatabaseProblem(databasePath: string, why: string): string {
  return `DATA_DIR: cannot open the call database "${databasePath}": ${why}: ` +
    "set DATA_DIR to a folder Parley can write (it is created if missing)";
}

/**
 * The `DATA_DIR` problem line when the call database could not be made there (the folder, or the
 * nearest one above it that exists, is a file), else undefined. Creates nothing: a missing folder is
 * made when a start passes every check.
 */
export function checkDataDir(dataDir: string, databasePath: string): string | undefined {
  const found = nearestExisting(resolve(dataDir));
  // Permission problems show when the database opens.
  if (found === undefined || "error" in found || found.isDirectory) return undefined;
  return callDatabaseProblem(databasePath, `"${found.path}" is a file, not a folder`);
}

/**
 * `path`, or the nearest folder above it that exists (a missing folder is made later), with whether it
 * is a folder; or the first error that is not "missing" (PermissionDenied: the OS refuses; NotCapable:
 * Deno does, under /dev, /proc or /sys); undefined when nothing up to the root exists.
 */
export function nearestExisting(
  path: string,
): { path: string; isDirectory: boolean } | { path: string; error: unknown } | undefined {
  for (;;) {
    try {
      return { path, isDirectory: Deno.statSync(path).isDirectory };
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) && !(error instanceof Deno.errors.NotADirectory)) {
        return { path, error };
      }
      const parent = dirname(path);
      if (parent === path) return undefined;
      path = parent;
    }
  }
}

/**
 * The `RECORDINGS_DIR` problem line for a recordings folder `dir` that cannot be used (`why`: the
 * error, or what is in the way), naming the variable and what to do; `unset`: RECORDINGS_DIR is not
 * set (the folder is DATA_DIR's).
 */
function recordingsDirProblem(dir: string, why: string, unset = false): string {
  const where = unset ? "unset, it is DATA_DIR/recordings; " : "";
  return `RECORDINGS_DIR: cannot keep recordings in "${dir}": ${why}: set RECORDINGS_DIR to a folder ` +
    `Parley can write (${where}it is created on the first recording)`;
}

/**
 * The `RECORDINGS_DIR` problem line when the startup repair of the recordings a crash left in `dir`
 * failed (`error`: a sidecar that is not JSON names its file; the folder replaced since the check).
 */
export function recordingsRepairProblem(dir: string, error: unknown): string {
  const why = errorText(error).replace(/\s+/g, " ").slice(0, 300);
  return `RECORDINGS_DIR: cannot repair the recordings the last run left in "${dir}": ${why}: fix or remove ` +
    "what it names, or set RECORDINGS_DIR to another folder";
}

/**
 * The `RECORDINGS_DIR` problem line when the recordings folder `dir` cannot be read (the startup
 * repair lists it) or made (it, or the nearest folder above it that exists, is a file), else
 * undefined. Creates nothing. `unset`: RECORDINGS_DIR is not set (the folder is in DATA_DIR);
 * `dataDir`: a file at or above it is left to DATA_DIR's own problem.
 */
export function checkRecordingsDir(
  dir: string,
  where: { unset: boolean; dataDir?: string },
): string | undefined {
  const problem = (why: string) => recordingsDirProblem(dir, why, where.unset);
  const folder = resolve(dir);
  const dataDir = where.dataDir === undefined ? undefined : resolve(where.dataDir);
  // What is wrong at DATA_DIR or above it is DATA_DIR's problem: the call database's check names it.
  const dataDirs = (path: string) => {
    const below = dataDir === undefined ? undefined : relative(path, dataDir);
    return below !== undefined && below !== ".." && !below.startsWith(`..${sep}`) && !isAbsolute(below);
  };
  const found = nearestExisting(folder);
  if (found === undefined) return undefined;
  if ("error" in found) return dataDirs(found.path) ? undefined : problem(errorText(found.error));
  if (!found.isDirectory) {
    return dataDirs(found.path) ? undefined : problem(`"${found.path}" is a file, not a folder`);
  }
  if (found.path !== folder) return undefined; // a missing folder is made on the first recording
  // The folder itself is listed by the startup repair.
  try {
    Deno.readDirSync(folder)[Symbol.iterator]().next();
    return undefined;
  } catch (error) {
    return dataDirs(folder) ? undefined : problem(errorText(error));
  }
}
