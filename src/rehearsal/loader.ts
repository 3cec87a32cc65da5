/**
 * Finds and imports scenario files: every `*.ts` in the scenarios folder (files starting with `_` or
 * `.` are helpers), or the files named on the command line. Every problem of every file is reported
 * at once, naming the file and the field.
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { LoadedScenario } from "./types.ts";
import { type ScenarioContext, validateScenario } from "./validate.ts";

/** The folder scenarios are read from unless named otherwise. */
export const DEFAULT_SCENARIOS_DIR = "scenarios";

/** Scenario files that cannot be used: one line per problem. */
export class ScenarioLoadError extends Error {
  /** Every problem, each naming its file and field. */
  readonly problems: string[];
  /** Builds the error. */
  constructor(problems: string[]) {
    super(`Cannot use the scenarios:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ScenarioLoadError";
    this.problems = problems;
  }
}

/**
 * The scenario files to run: `names` (a path, or an id in `dir`), or every scenario in `dir`.
 *
 * @throws {ScenarioLoadError} for a missing folder or file.
 */
export async function scenarioFiles(dir: string, names: readonly string[] = []): Promise<string[]> {
  if (names.length > 0) {
    const files: string[] = [];
    const missing: string[] = [];
    for (const name of names) {
      const file = name.endsWith(".ts") ? name : join(dir, `${name}.ts`);
      if (await isFile(file)) files.push(file);
      else missing.push(`${file}: file: not found; name a scenario file, or an id in ${dir}/`);
    }
    if (missing.length > 0) throw new ScenarioLoadError(missing);
    return files;
  }
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.name.endsWith(".ts") || /^[_.]/.test(entry.name)) continue;
      files.push(join(dir, entry.name));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new ScenarioLoadError([`${dir}: folder: not found; create it with scenario files, or name them`]);
  }
  if (files.length === 0) throw new ScenarioLoadError([`${dir}: folder: no scenario files (*.ts)`]);
  return files.sort();
}

/**
 * Imports and validates `files`; with `reload`, edited files are imported afresh (the server's
 * Rehearse button).
 *
 * @throws {ScenarioLoadError} listing every problem of every file.
 */
export async function loadScenarios(
  files: readonly string[],
  context: ScenarioContext,
  options: { reload?: boolean } = {},
): Promise<LoadedScenario[]> {
  const problems: string[] = [];
  const loaded: LoadedScenario[] = [];
  for (const file of files) {
    let module: Record<string, unknown>;
    try {
      const url = pathToFileURL(resolve(file));
      // A long-running server imports the file as it is now, not as it was first imported.
      if (options.reload === true) url.searchParams.set("v", String(Date.now()));
      module = await import(url.href);
    } catch (error) {
      const detail = error instanceof Error ? error.message.split("\n")[0] : String(error);
      problems.push(`${file}: import: ${detail}`);
      continue;
    }
    const result = validateScenario(module.default, file, context);
    if (result.scenario === undefined) problems.push(...result.problems);
    else loaded.push({ id: basename(file, ".ts"), file, scenario: result.scenario });
  }
  if (problems.length > 0) throw new ScenarioLoadError(problems);
  return loaded;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}
