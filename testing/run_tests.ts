/**
 * `deno task test`: the whole suite (`deno test --no-check --allow-all --parallel`), its files packed into
 * groups that each run in one worker (`testing/test_groups.ts`), in an order shuffled by a seed printed
 * first, so a run that failed can be repeated in the same order with `deno task test --shuffle=<seed>`.
 * Deno's own `--shuffle` picks a seed it never prints.
 *
 * Why groups: each test file Deno is given starts a worker of its own, about 0.15 core-seconds here; on a
 * 2-core machine the suite is bound by its CPU, and its 240 files spent 35 of its 125 core-seconds starting.
 * Why shuffled: a test that only passes in one order, or only when another file is not loading the machine,
 * is found.
 *
 * Arguments go on to `deno test` (`--filter`, a `--shuffle=<seed>` of your own), except `--save-times`,
 * which writes each file's seconds in this run to `testing/test_seconds.json`, the record groups are packed
 * from. Ctrl-C (and CI's timeout, which signals the whole process group) reaches `deno test` itself, which
 * lists the tests still pending; this process waits for it, removes the groups and ends with its status.
 *
 * @module
 */

import { findTestFiles, groupModule, packGroups, secondsFromJunit, type TestSeconds } from "./test_groups.ts";

/** Where the record of each test file's seconds is kept (committed; `--save-times` rewrites it). */
const SECONDS_PATH = "testing/test_seconds.json";
/** Where each run writes its group modules and JUnit report (git-ignored; removed after the run). */
const GROUPS_FOLDER = ".test-groups";

const args = Deno.args.filter((arg) => arg !== "--save-times");
const saveTimes = args.length < Deno.args.length;
const given = args.find((arg) => arg === "--shuffle" || arg.startsWith("--shuffle="));
let seed = given?.slice("--shuffle=".length);
if (given === undefined) {
  seed = String(1 + Math.floor(Math.random() * 999_999));
  args.push(`--shuffle=${seed}`);
}
if (seed !== undefined && seed !== "") {
  console.log(
    `Test order: --shuffle=${seed} (deno task test --shuffle=${seed} runs them in this order again)`,
  );
}

const files = await findTestFiles("tests");
const seconds = await readSeconds();
const groups = packGroups(files, seconds);
const unrecorded = files.filter((file) => seconds[file] === undefined).length;
console.log(
  `Test files: ${files.length} in ${groups.length} groups, one worker each (packed by ${SECONDS_PATH}${
    unrecorded > 0 ? `; ${unrecorded} it does not list run alone` : ""
  })`,
);

// A folder per run (this process's id), so two runs in one checkout keep their own groups.
const runFolder = `${GROUPS_FOLDER}/${Deno.pid}`;
await Deno.remove(runFolder, { recursive: true }).catch(() => {});
await Deno.mkdir(runFolder, { recursive: true });
const groupPaths: string[] = [];
for (const [index, group] of groups.entries()) {
  const path = `${runFolder}/g${String(index + 1).padStart(2, "0")}_test.ts`;
  await Deno.writeTextFile(path, groupModule(group, runFolder));
  groupPaths.push(path);
}
const junitPath = `${runFolder}/junit.xml`;

const child = new Deno.Command(Deno.execPath(), {
  args: [
    "test",
    "--no-check",
    "--allow-all",
    "--parallel",
    `--junit-path=${junitPath}`,
    ...args,
    ...groupPaths,
  ],
  stdin: "inherit",
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
// Ctrl-C went to deno test too (the terminal and `timeout` signal the process group): wait for it to
// list what was pending. A SIGTERM meant for this process alone ends it as well.
const onInterrupt = () => {};
const onTerminate = () => child.kill("SIGTERM");
Deno.addSignalListener("SIGINT", onInterrupt);
Deno.addSignalListener("SIGTERM", onTerminate);
const status = await child.status;
Deno.removeSignalListener("SIGINT", onInterrupt);
Deno.removeSignalListener("SIGTERM", onTerminate);
if (saveTimes) await saveSeconds();
await Deno.remove(runFolder, { recursive: true });
const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
Deno.exit(status.signal === null ? status.code : 128 + (SIGNAL_NUMBERS[status.signal] ?? 1));

/** The recorded seconds, or none (every file then runs alone) when the record is missing or unreadable. */
async function readSeconds(): Promise<TestSeconds> {
  try {
    const record = JSON.parse(await Deno.readTextFile(SECONDS_PATH));
    if (typeof record !== "object" || record === null || Array.isArray(record)) {
      throw new Error("not an object of seconds by file");
    }
    return record;
  } catch (error) {
    console.log(`${SECONDS_PATH} unreadable (${(error as Error).message}): each test file runs alone`);
    return {};
  }
}

/** Writes this run's seconds per file (from its JUnit report) to the record, for the files that exist. */
async function saveSeconds(): Promise<void> {
  let measured: TestSeconds;
  try {
    measured = secondsFromJunit(await Deno.readTextFile(junitPath));
  } catch (error) {
    console.log(
      `--save-times: no report of this run (${(error as Error).message}); ${SECONDS_PATH} unchanged`,
    );
    return;
  }
  const record = Object.fromEntries(
    files.filter((file) => measured[file] !== undefined).map((file) => [file, measured[file]]),
  );
  await Deno.writeTextFile(SECONDS_PATH, JSON.stringify(record, null, 2) + "\n");
  console.log(`--save-times: ${Object.keys(record).length} files' seconds written to ${SECONDS_PATH}`);
}
