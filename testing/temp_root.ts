/**
 * Keeps the tests' temporary folders where a Parley process may use them. Tests hand folders from
 * `Deno.makeTempDir` (under TMPDIR) to Parley processes started with the tasks' scoped permissions, and
 * Deno lets only `--allow-all` read or write a path under /dev, /proc or /sys, whatever `--allow-read`
 * and `--allow-write` say. So a TMPDIR there (/dev/shm, a tmpfs some set for speed) is replaced with
 * /tmp for this test process, on import: every folder the tests make is then one Parley can use.
 * Imported by the helpers that start Parley processes (`parley_process.ts`, `parley_harness.ts`,
 * `campaign_processes.ts`, `tests/personas/_persona_dir.ts`).
 *
 * @module
 */

import { resolve } from "node:path";

/** True for a folder Deno keeps to `--allow-all`: /dev, /proc, /sys or below. */
function onlyAllowAllMayUse(path: string): boolean {
  return /^\/(dev|proc|sys)(\/|$)/.test(resolve(path));
}

// Only where the environment may be read and set: the tests run with --allow-all, the bench (which
// imports the same helpers) with a few named variables, and its folders are its own.
if (Deno.permissions.querySync({ name: "env", variable: "TMPDIR" }).state === "granted") {
  const tmp = Deno.env.get("TMPDIR");
  if (tmp !== undefined && tmp !== "" && onlyAllowAllMayUse(tmp)) Deno.env.set("TMPDIR", "/tmp");
}
