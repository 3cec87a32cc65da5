/**
 * `main.ts` with a RECORDINGS_DIR or PERSONAS_DIR it cannot use: one `❌` message naming the variable
 * or file and what to do, no stack trace, nothing left open (DATA_DIR untouched when the check
 * refuses). And with OPENAI_REALTIME_MODEL on GPT-Live, personas that name no model are checked and
 * announced as GPT-Live ones. What a persona file says in a problem (a field or tool name) is escaped.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { processEnv, REPO, spawnParley, TEST_PERSONAS_DIR } from "../testing/parley_process.ts";

/** Runs `main.ts` with `extra` over a working environment in a fresh DATA_DIR; the exit and stderr. */
async function start(parent: string, extra: Record<string, string>) {
  const dataDir = join(parent, "data");
  const env = processEnv({ upstreamUrl: "ws://127.0.0.1:9", dataDir }, extra);
  const { code, stderr } = await (await spawnParley("start", env)).finished();
  return { code, stderr, dataDir };
}

function assertOneProblem(stderr: string, expected: RegExp): void {
  assert.match(stderr, /❌ Parley cannot start: 1 problem:\n/);
  assert.match(stderr, expected);
  assert.doesNotMatch(stderr, /Uncaught|\n\s+at /, `no stack trace:\n${stderr}`);
}

Deno.test("main.ts names RECORDINGS_DIR when it is a file, under one, or a path Deno refuses; opens nothing", async (t) => {
  const parent = await Deno.makeTempDir();
  try {
    await t.step("a file", async () => {
      const { code, stderr, dataDir } = await start(parent, { RECORDINGS_DIR: `${REPO}README.md` });
      assert.equal(code, 1);
      assertOneProblem(
        stderr,
        /- RECORDINGS_DIR: cannot keep recordings in ".*\/README\.md": ".*\/README\.md" is a file, not a folder: set RECORDINGS_DIR to a folder Parley can write \(it is created on the first recording\)\n/,
      );
      assert.equal(await exists(dataDir), false, "the call database was not opened (DATA_DIR not made)");
    });
    await t.step("a folder under a file", async () => {
      const { code, stderr } = await start(parent, { RECORDINGS_DIR: `${REPO}README.md/recordings` });
      assert.equal(code, 1);
      assertOneProblem(
        stderr,
        /- RECORDINGS_DIR: cannot keep recordings in ".*\/README\.md\/recordings": ".*\/README\.md" is a file, not a folder: /,
      );
    });
    await t.step("a path Deno lets only --allow-all read", async () => {
      const { code, stderr, dataDir } = await start(parent, { RECORDINGS_DIR: "/proc/1/root/recordings" });
      assert.equal(code, 1);
      assertOneProblem(
        stderr,
        /- RECORDINGS_DIR: cannot keep recordings in "\/proc\/1\/root\/recordings": .*--allow-all.*: set RECORDINGS_DIR to a folder Parley can write/,
      );
      assert.equal(await exists(dataDir), false);
    });
    await t.step("unset, with DATA_DIR under a file: DATA_DIR's problem alone", async () => {
      const { code, stderr } = await (await spawnParley(
        "start",
        processEnv({ upstreamUrl: "ws://127.0.0.1:9", dataDir: `${REPO}README.md/data` }),
      )).finished();
      assert.equal(code, 1);
      assertOneProblem(
        stderr,
        /- DATA_DIR: cannot open the call database ".*\/README\.md\/data\/parley\.db": /,
      );
      assert.doesNotMatch(stderr, /RECORDINGS_DIR/);
    });
    await t.step("unset, with DATA_DIR/recordings a file", async () => {
      const dataDir = join(parent, "data");
      await Deno.mkdir(dataDir, { recursive: true });
      await Deno.writeTextFile(join(dataDir, "recordings"), "not a folder");
      const { code, stderr } = await start(parent, {});
      assert.equal(code, 1);
      assertOneProblem(
        stderr,
        /- RECORDINGS_DIR: cannot keep recordings in ".*\/data\/recordings": .* is a file, not a folder: set RECORDINGS_DIR to a folder Parley can write \(unset, it is DATA_DIR\/recordings; /,
      );
      assert.deepEqual([...Deno.readDirSync(dataDir)].map((e) => e.name), ["recordings"], "no parley.db");
    });
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("main.ts names the recording a crash left that it cannot repair, and closes the store", async () => {
  const parent = await Deno.makeTempDir();
  try {
    const recordingsDir = join(parent, "recordings");
    await Deno.mkdir(recordingsDir);
    await Deno.writeTextFile(join(recordingsDir, "CAbroken.json"), "{ not json");
    const { code, stderr, dataDir } = await start(parent, { RECORDINGS_DIR: recordingsDir });
    assert.equal(code, 1);
    assertOneProblem(
      stderr,
      /- RECORDINGS_DIR: cannot repair the recordings the last run left in ".*\/recordings": .*\/recordings\/CAbroken\.json: .*JSON.*: fix or remove what it names, or set RECORDINGS_DIR to another folder\n/,
    );
    // Closed, not killed mid-write: SQLite left no journal beside the database.
    assert.deepEqual([...Deno.readDirSync(dataDir)].map((e) => e.name), ["parley.db"]);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("main.ts names PERSONAS_DIR's file in the way, and a dangling persona link, without a stack trace", async (t) => {
  const parent = await Deno.makeTempDir();
  try {
    await t.step("a PERSONAS_DIR through a file", async () => {
      const { code, stderr } = await start(parent, { PERSONAS_DIR: `${REPO}README.md/personas` });
      assert.equal(code, 1);
      assertOneProblem(
        stderr,
        /- .*\/README\.md\/personas: folder: not found at .*\/README\.md\/personas: ".*\/README\.md" is a file, not a folder; set PERSONAS_DIR to the folder that has the persona files\n/,
      );
    });
    await t.step("a link to nothing in the folder", async () => {
      const personasDir = join(parent, "personas");
      await Deno.mkdir(personasDir);
      for (const name of ["tester.ts", "quiet.ts"]) {
        await Deno.copyFile(join(TEST_PERSONAS_DIR, name), join(personasDir, name));
      }
      await Deno.symlink(join(parent, "missing.ts"), join(personasDir, "old.ts"));
      const { code, stderr } = await start(parent, { PERSONAS_DIR: personasDir });
      assert.equal(code, 1);
      assertOneProblem(
        stderr,
        /- .*\/personas\/old\.ts: cannot read it: it is a link to ".*\/missing\.ts", which does not exist; fix the link or remove it\n/,
      );
      assert.doesNotMatch(stderr, /folder: not found/);
    });
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("main.ts with OPENAI_REALTIME_MODEL=gpt-live-…: personas without a model are GPT-Live ones", async () => {
  const parent = await Deno.makeTempDir();
  try {
    const personasDir = join(parent, "personas");
    await Deno.mkdir(personasDir);
    await Deno.writeTextFile(
      join(personasDir, "live.ts"),
      'export default { voice: "beacon", instructions: "You answer the phone." };\n',
    );
    const env = processEnv({ upstreamUrl: "ws://127.0.0.1:9", dataDir: join(parent, "data"), personasDir }, {
      DEFAULT_PERSONA: "live",
      INBOUND_PERSONA: "live",
      OPENAI_REALTIME_MODEL: "gpt-live-1.1",
      OPENAI_LIVE_URL: "ws://127.0.0.1:9/live",
    });
    const parley = await spawnParley("start", env);
    try {
      const listening = await Promise.race([
        parley.stdout.waitFor(/Call records:/),
        parley.child.status.then(() => {
          throw new Error(`Parley exited:\n${parley.stderr.lines.join("\n")}`);
        }),
      ]);
      assert.ok(listening);
      assert.ok(
        parley.stdout.lines.includes("✅ OpenAI GPT-Live: ws://127.0.0.1:9/live (model gpt-live-1.1)"),
        parley.stdout.lines.join("\n"),
      );
      parley.child.kill("SIGTERM");
      assert.equal((await parley.child.status).code, 0);
    } finally {
      try {
        parley.child.kill("SIGKILL");
      } catch { /* already exited */ }
      await parley.finished();
    }

    // A Realtime-only setting on such a persona means nothing there: refused, as on a gpt-live model.
    await Deno.writeTextFile(
      join(personasDir, "live.ts"),
      'export default { voice: "beacon", instructions: "Hi", vad: { type: "server_vad" } };\n',
    );
    const refused = await (await spawnParley("start", env)).finished();
    assert.equal(refused.code, 1);
    assertOneProblem(
      refused.stderr,
      /- .*\/live\.ts: vad: means nothing on GPT-Live \(gpt-live-1\.1 from OPENAI_REALTIME_MODEL\): the model owns turn-taking; remove it, or use a gpt-realtime model\n/,
    );
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("main.ts escapes the field and tool names a persona file puts in its problems, one line each", async () => {
  const parent = await Deno.makeTempDir();
  try {
    const personasDir = join(parent, "personas");
    await Deno.mkdir(personasDir);
    for (const name of ["tester.ts", "quiet.ts"]) {
      await Deno.copyFile(join(TEST_PERSONAS_DIR, name), join(personasDir, name));
    }
    await Deno.writeTextFile(
      join(personasDir, "p.ts"),
      'export default { voice: "marin", instructions: "hi", ["colour\\u001b[31m\\nforged: ok"]: 1,\n' +
        '  tools: [{ name: "a\\u202eb", description: "d", run() {} }] };\n',
    );
    const { code, stderr } = await start(parent, { PERSONAS_DIR: personasDir });
    assert.equal(code, 1);
    assert.ok(!stderr.includes("\u001b") && !stderr.includes("\u202e"), "no raw ESC or U+202E");
    const lines = stderr.split("\n");
    assert.equal(lines.length, 4, stderr);
    assert.equal(lines[0], "❌ Parley cannot start: 2 problems:");
    assert.ok(
      lines[1]!.startsWith(`   - ${personasDir}/p.ts: colour\\x1b[31m\\x0aforged: ok: unknown field; `),
      stderr,
    );
    assert.ok(
      lines[2]!.startsWith(`   - ${personasDir}/p.ts: tools[0] (a\\u202eb).name: "a\\u202eb" `),
      stderr,
    );
    assert.equal(lines[3], "   Fix them in .env (or PERSONAS_DIR) and start again.");
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
