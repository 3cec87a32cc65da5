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
  let path = resolve(dataDir);
  for (;;) {
    try {
      if (Deno.statSync(path).isDirectory) return undefined;
      return callDatabaseProblem(databasePath, `"${path}" is a file, not a folder`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) && !(error instanceof Deno.errors.NotADirectory)) {
        return undefined; // permission problems show when the database opens
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
  let path = folder;
  for (;;) {
    try {
      if (!Deno.statSync(path).isDirectory) {
        return dataDirs(path) ? undefined : problem(`"${path}" is a file, not a folder`);
      }
      // The folder itself is listed by the startup repair; a missing one is made on the first recording.
      if (path === folder) Deno.readDirSync(path)[Symbol.iterator]().next();
      return undefined;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) && !(error instanceof Deno.errors.NotADirectory)) {
        // PermissionDenied: the OS refuses. NotCapable: Deno does (under /dev, /proc or /sys).
        return dataDirs(path) ? undefined : problem(errorText(error));
      }
      const parent = dirname(path);
      if (parent === path) return undefined;
      path = parent;
    }
  }
}
