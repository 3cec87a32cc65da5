/**
 * `deno task test`'s groups (`testing/test_groups.ts`, `testing/run_tests.ts`): every test file runs, in
 * exactly one group; groups are balanced by the recorded seconds; a failure still names its own file; the
 * runner removes its groups and records each file's seconds when asked.
 */

import assert from "node:assert/strict";
import { findTestFiles, packGroups, type TestSeconds } from "../../testing/test_groups.ts";
import { REPO } from "../../testing/parley_process.ts";

Deno.test("findTestFiles finds Deno's default test names, leaving out hidden folders and node_modules", async () => {
  const root = await Deno.makeTempDir({ prefix: "parley_test_groups_" });
  try {
    const write = async (path: string) => {
      await Deno.mkdir(`${root}/${path}`.replace(/\/[^/]+$/, ""), { recursive: true });
      await Deno.writeTextFile(`${root}/${path}`, "");
    };
    for (
      const path of [
        "a_test.ts",
        "b.test.js",
        "test.mts",
        "deep/c_test.tsx",
        "helper.ts",
        "_rig.ts",
        "contest.ts",
        ".hidden/d_test.ts",
        "node_modules/e_test.ts",
      ]
    ) await write(path);
    assert.deepEqual(await findTestFiles(root), [
      `${root}/a_test.ts`,
      `${root}/b.test.js`,
      `${root}/deep/c_test.tsx`,
      `${root}/test.mts`,
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("packGroups puts every file in one group, balanced by its seconds; unrecorded files run alone", () => {
  // A seeded spread of file times: a few long files, many short ones.
  let state = 7;
  const random = () => (state = (state * 48271) % 2147483647) / 2147483647;
  const files = Array.from({ length: 120 }, (_, i) => `tests/f${String(i).padStart(3, "0")}_test.ts`);
  const seconds: TestSeconds = {};
  for (const file of files.slice(0, 110)) seconds[file] = Math.round(random() ** 3 * 30 * 100) / 100;
  const groups = packGroups(files, seconds, 20);

  const placed = groups.flat();
  assert.equal(placed.length, files.length, "each file once");
  assert.deepEqual([...placed].sort(), files);
  const unrecorded = files.slice(110);
  for (const file of unrecorded) assert.ok(groups.some((g) => g.length === 1 && g[0] === file), file);

  const total = files.slice(0, 110).reduce((sum, file) => sum + seconds[file]!, 0);
  const packed = groups.filter((g) => !unrecorded.includes(g[0]!));
  assert.equal(packed.length, Math.ceil(total / 20));
  // Longest first into the emptiest group: no group exceeds the mean by more than its shortest file's
  // seconds, unless it holds one file alone.
  const mean = total / packed.length;
  for (const group of packed) {
    const sum = group.reduce((s, file) => s + seconds[file]!, 0);
    const shortest = Math.min(...group.map((file) => seconds[file]!));
    assert.ok(group.length === 1 || sum <= mean + shortest + 1e-9, `${sum} against a mean of ${mean}`);
  }
  // The same files and seconds in another order give the same groups (a seed repeats a run).
  assert.deepEqual(packGroups([...files].reverse(), seconds, 20), groups);
});

Deno.test("deno task test's runner runs every file in groups, names a failure's own file, cleans up and records times", async () => {
  const root = await Deno.makeTempDir({ prefix: "parley_test_runner_" });
  try {
    await Deno.mkdir(`${root}/tests/deep`, { recursive: true });
    await Deno.mkdir(`${root}/testing`);
    // a and b share a group (their seconds are recorded), and so one worker: b sees what a's module set.
    await Deno.writeTextFile(
      `${root}/tests/a_test.ts`,
      `(globalThis as Record<string, unknown>).loadedA = true;\nDeno.test("a passes", () => {});\n`,
    );
    await Deno.writeTextFile(
      `${root}/tests/deep/b_test.ts`,
      `Deno.test("b shares a's worker", () => {\n  if (!(globalThis as Record<string, unknown>).loadedA) throw new Error("b ran alone");\n});\n` +
        `Deno.test("b fails", () => {\n  throw new Error("boom");\n});\n`,
    );
    // c is not in the record: it runs alone, and does not see a's module.
    await Deno.writeTextFile(
      `${root}/tests/c_test.ts`,
      `Deno.test("c runs alone", () => {\n  if ((globalThis as Record<string, unknown>).loadedA) throw new Error("c shares a worker");\n});\n`,
    );
    await Deno.writeTextFile(
      `${root}/testing/test_seconds.json`,
      JSON.stringify({ "tests/a_test.ts": 1, "tests/deep/b_test.ts": 1 }),
    );
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", `${REPO}testing/run_tests.ts`, "--save-times", "--shuffle=5"],
      cwd: root,
      env: { NO_COLOR: "1" },
    }).output();
    const output = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 1, output);
    assert.match(output, /^Test order: --shuffle=5 /m);
    assert.match(output, /Test files: 3 in 2 groups, one worker each .*1 it does not list run alone/);
    assert.match(output, /a passes \.\.\. ok/);
    assert.match(output, /b shares a's worker \.\.\. ok/);
    assert.match(output, /c runs alone \.\.\. ok/);
    assert.match(output, /^b fails => \.\/tests\/deep\/b_test\.ts:\d+:\d+$/m);
    assert.match(output, /\| 3 passed \| 1 failed/);
    // The groups are removed; the record now holds all three files' seconds.
    assert.deepEqual([...Deno.readDirSync(`${root}/.test-groups`)], []);
    const record = JSON.parse(await Deno.readTextFile(`${root}/testing/test_seconds.json`));
    assert.deepEqual(Object.keys(record), ["tests/a_test.ts", "tests/c_test.ts", "tests/deep/b_test.ts"]);
    for (const value of Object.values(record)) assert.ok(typeof value === "number" && value >= 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("deno task test's runner runs each file alone when the record of seconds is not an object", async () => {
  const root = await Deno.makeTempDir({ prefix: "parley_test_runner_" });
  try {
    await Deno.mkdir(`${root}/tests`, { recursive: true });
    await Deno.mkdir(`${root}/testing`);
    await Deno.writeTextFile(`${root}/tests/a_test.ts`, `Deno.test("a passes", () => {});\n`);
    await Deno.writeTextFile(`${root}/tests/b_test.ts`, `Deno.test("b passes", () => {});\n`);
    await Deno.writeTextFile(`${root}/testing/test_seconds.json`, "null\n");
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", `${REPO}testing/run_tests.ts`],
      cwd: root,
      env: { NO_COLOR: "1" },
    }).output();
    const output = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, output);
    assert.match(output, /testing\/test_seconds\.json unreadable \(not an object of seconds by file\)/);
    assert.match(output, /Test files: 2 in 2 groups, one worker each .*2 it does not list run alone/);
    assert.match(output, /\| 2 passed \| 0 failed/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
