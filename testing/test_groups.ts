/**
 * How `deno task test` packs the suite's files into groups, each run in one `deno test` worker.
 *
 * Deno 2.9.6 starts a worker for every test file it is given, and each worker pays for its own start
 * (its runtime, the `Deno.bench` module's 80 MB sample buffer, the npm packages and Parley's modules loaded
 * and compiled again): about 0.15 core-seconds a file here, 35 of the suite's 125 for its 240 files. A group
 * is a small generated module that imports several test files, so their tests run in one worker, one after
 * another, sharing that start. Groups are packed from each file's seconds in a recorded run
 * (`testing/test_seconds.json`): longest first, each into the group with the fewest seconds so far, so no
 * group is much longer than the others; a file the record does not know runs in a group of its own, as
 * before. Failures still name the test's own file and line.
 *
 * @module
 */

/** Each test file's seconds (the sum of its tests' times) in a recorded run, keyed by its path from the repository root. */
export type TestSeconds = Record<string, number>;

/** About how many recorded seconds of tests a group holds: the group count is the total over this. */
export const GROUP_SECONDS = 20;

/** Deno's default test file names: `*_test`, `*.test` and `test`, in its six extensions. */
const TEST_FILE_NAME = /(?:^|[_.])test\.(?:ts|tsx|mts|js|mjs|jsx)$/;

/**
 * The test files under `root`, as paths joined to it with `/`, sorted: Deno's default names, leaving out
 * hidden folders and `node_modules`.
 */
export async function findTestFiles(root: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(root)) {
    const path = `${root}/${entry.name}`;
    if (entry.isDirectory) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      found.push(...await findTestFiles(path));
    } else if (entry.isFile && TEST_FILE_NAME.test(entry.name)) {
      found.push(path);
    }
  }
  return found.sort();
}

/**
 * Packs `files` into groups: the files `seconds` knows longest first (ties by path), each into the group
 * with the fewest seconds so far, over `ceil(total / groupSeconds)` groups; then each file it does not know
 * in a group of its own. Every file is in exactly one group. Deterministic: the same files and seconds give
 * the same groups, so a shuffle seed repeats a run's order.
 */
export function packGroups(
  files: readonly string[],
  seconds: TestSeconds,
  groupSeconds: number = GROUP_SECONDS,
): string[][] {
  const known = files.filter((file) => Number.isFinite(seconds[file]) && seconds[file]! >= 0);
  const unknown = files.filter((file) => !known.includes(file)).sort();
  known.sort((a, b) => seconds[b]! - seconds[a]! || (a < b ? -1 : a > b ? 1 : 0));
  const total = known.reduce((sum, file) => sum + seconds[file]!, 0);
  const count = Math.min(known.length, Math.max(1, Math.ceil(total / groupSeconds)));
  const groups = Array.from({ length: count }, () => ({ files: [] as string[], seconds: 0 }));
  for (const file of known) {
    let least = groups[0]!;
    for (const group of groups) if (group.seconds < least.seconds) least = group;
    least.files.push(file);
    least.seconds += seconds[file]!;
  }
  return [...groups.map((group) => group.files), ...unknown.map((file) => [file])];
}

/**
 * The text of a group's module: a comment, then one `import` per file, each path relative to the folder
 * the module is written in (`fromFolder`, from the repository root, as the files' paths are).
 */
export function groupModule(files: readonly string[], fromFolder: string): string {
  const up = fromFolder.split("/").filter((part) => part !== "" && part !== ".").map(() => "..").join("/");
  return [
    "// Written by testing/run_tests.ts for one run: these test files run in one worker.",
    ...files.map((file) => `import "${up}/${file}";`),
    "",
  ].join("\n");
}

/**
 * Each test file's seconds in a JUnit report of `deno test` (`--junit-path`): the sum of its test cases'
 * `time`, keyed by the case's `classname` (the file that registered it, `./tests/…`) without its `./`.
 */
export function secondsFromJunit(xml: string): TestSeconds {
  const seconds: TestSeconds = {};
  for (const match of xml.matchAll(/<testcase\b[^>]*>/g)) {
    const file = /\bclassname="\.\/([^"]+)"/.exec(match[0])?.[1];
    const time = Number(/\btime="([0-9.]+)"/.exec(match[0])?.[1]);
    if (file === undefined || !Number.isFinite(time)) continue;
    seconds[file] = (seconds[file] ?? 0) + time;
  }
  for (const file of Object.keys(seconds)) seconds[file] = Math.round(seconds[file]! * 100) / 100;
  return seconds;
}
