import assert from "node:assert/strict";
import { callParameterProblem } from "../../src/calls/call_parameters.ts";
import { checkConfig } from "../../src/config.ts";
import { modelProblem } from "../../src/engines/registry.ts";
import { parsePersonaArgs } from "../../src/persona_cli.ts";
import { TEST_PERSONAS_DIR } from "../../testing/parley_harness.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function runTask(
  args: string[],
  personasDir = TEST_PERSONAS_DIR,
  model = "gpt-realtime-2.1",
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "persona", ...args],
    cwd: ROOT,
    env: { PERSONAS_DIR: personasDir, OPENAI_REALTIME_MODEL: model, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  // Without the warning Deno prints when the checkout has no .env: what the task itself printed.
  const printed = new TextDecoder().decode(stderr).replace(/^Warning The `--env-file` flag .*\n/, "");
  return { code, stdout: new TextDecoder().decode(stdout), stderr: printed };
}

Deno.test("deno task persona prints the rendered instructions, the opening messages and the tools", async () => {
  const { code, stdout } = await runTask(["alex", "--param", "lead=Dana", "--param=company=Acme"]);
  assert.equal(code, 0);
  assert.match(stdout, /^Persona "alex": Outbound sales rep/);
  assert.match(stdout, /Engine realtime, model gpt-realtime-2\.1, voice shimmer/);
  assert.match(stdout, /on an outbound phone call to Dana at Acme\./);
  assert.match(stdout, /"type": "session\.update"/);
  assert.match(stdout, /"type": "response\.create"/);
  assert.match(stdout, /── Tools ─+\nnone/);
});

Deno.test("deno task persona names an unknown persona and what exists", async () => {
  const { code, stderr } = await runTask(["nobody"]);
  assert.equal(code, 1);
  assert.match(stderr, /No persona "nobody" in .*: found .*\balex\b/);
});

Deno.test({
  name:
    "a PERSONAS_DIR the task may not read (Deno refuses /proc without --allow-all) is named, not a stack trace",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const { code, stderr } = await runTask(["alex"], "/proc/self/parley-personas");
    assert.equal(code, 1, stderr);
    assert.match(stderr, /\/proc\/self\/parley-personas: folder: cannot read it: .*; or set PERSONAS_DIR/);
    assert.doesNotMatch(stderr, /Uncaught|NotCapable|at personaFileNames/);
  },
});

Deno.test("persona arguments: bad --param and a missing id are explained", () => {
  assert.deepEqual(parsePersonaArgs(["alex", "--param", "a=b=c"]), { id: "alex", parameters: { a: "b=c" } });
  assert.throws(() => parsePersonaArgs(["alex", "--param", "oops"]), /--param needs name=value, got "oops"/);
  assert.throws(() => parsePersonaArgs([]), /Name a persona: usage: deno task persona <id>/);
});

Deno.test("deno task persona --help prints the usage and exits 0", async () => {
  for (const flag of ["--help", "-h"]) {
    const { code, stdout, stderr } = await runTask([flag]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^usage: deno task persona <id> \[--voice <voice>\] \[--param name=value …\]/);
    assert.match(stdout, /--param name=value +a call parameter, as POST \/api\/calls "parameters" takes it/);
  }
});

Deno.test("persona arguments: a parameter POST /api/calls refuses is refused here too, for the same reason", () => {
  for (const name of ["1st", "lead name", "a".repeat(65), "x.y"]) {
    const api = callParameterProblem(name, "v");
    assert.notEqual(api, undefined, name);
    assert.throws(() => parsePersonaArgs(["alex", "--param", `${name}=v`]), {
      message: `--param ${name}: ${api}`,
    });
  }
  assert.throws(
    () => parsePersonaArgs(["alex", "--param", "tab=a\tb"]),
    /--param tab: "tab" contains control characters/,
  );
  assert.throws(
    () => parsePersonaArgs(["alex", "--param", "persona=bob"]),
    /name the persona as the first argument/,
  );
  assert.throws(
    () => parsePersonaArgs(["alex", "--param", "voice=coral"]),
    /pick the voice with --voice <voice>/,
  );
  const many = Array.from({ length: 21 }, (_, i) => ["--param", `p${i}=v`]).flat();
  assert.throws(() => parsePersonaArgs(["alex", ...many]), /21 parameters: at most 20 are allowed/);
  assert.deepEqual(parsePersonaArgs(["alex", "--voice", "coral", "--param", "lead=Dana"]), {
    id: "alex",
    parameters: { lead: "Dana", voice: "coral" },
  });
});

Deno.test("POST /api/calls and deno task persona share one parameter rule", async () => {
  const { code, stderr } = await runTask(["alex", "--param", "9lives=x"]);
  assert.equal(code, 2);
  assert.match(
    stderr,
    /--param 9lives: name "9lives" is not allowed: use letters, digits, _ and -, starting with a letter/,
  );
});

Deno.test("deno task persona names a dangling link in the folder, and a PERSONAS_DIR through a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(`${TEST_PERSONAS_DIR}/tester.ts`, `${dir}/tester.ts`);
    await Deno.symlink(`${dir}/missing.ts`, `${dir}/old.ts`);
    const dangling = await runTask(["tester"], dir);
    assert.equal(dangling.code, 1);
    assert.match(
      dangling.stderr,
      /- .*\/old\.ts: cannot read it: it is a link to ".*\/missing\.ts", which does not exist; fix the link or remove it/,
    );
    assert.doesNotMatch(dangling.stderr, /folder: not found/);

    const through = await runTask(["tester"], `${dir}/tester.ts/personas`);
    assert.equal(through.code, 1);
    assert.match(
      through.stderr,
      /folder: not found at .*: ".*\/tester\.ts" is a file, not a folder; set PERSONAS_DIR/,
    );
    assert.doesNotMatch(through.stderr, /Uncaught|NotADirectory/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task persona checks a persona without model against the engine OPENAI_REALTIME_MODEL runs on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_persona_cli_live_" });
  try {
    await Deno.writeTextFile(
      `${dir}/sam.ts`,
      'export default { voice: "beacon", instructions: "You are Sam." };',
    );
    const live = await runTask(["sam"], dir, "gpt-live-1.1");
    assert.equal(live.code, 0, live.stderr);
    assert.match(live.stdout, /Engine live, model gpt-live-1\.1, voice beacon/);
    // The same file under a Realtime default: beacon is no Realtime voice.
    const realtime = await runTask(["sam"], dir);
    assert.equal(realtime.code, 1);
    assert.match(realtime.stderr, /sam\.ts: voice: "beacon" is not a Realtime voice/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Control characters `escapeLogText` writes as `\xNN` / `\uNNNN`; a line break is allowed between lines. */
const RAW_CONTROL =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

Deno.test("deno task persona escapes what a persona file says: an escape, a line break, a bidi override", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_persona_cli_escape_" });
  try {
    await Deno.mkdir(`${dir}/broken`);
    await Deno.writeTextFile(
      `${dir}/broken/p.ts`,
      'export default { voice: "marin", instructions: "hi", ["colour\\u001b[31m\\nforged: ok"]: 1,\n' +
        '  tools: [{ name: "a\\u202eb", description: "d", run() {} }] };\n',
    );
    const broken = await runTask(["p"], `${dir}/broken`);
    assert.equal(broken.code, 1);
    assert.doesNotMatch(broken.stderr, RAW_CONTROL);
    const lines = broken.stderr.split("\n");
    assert.equal(lines.length, 4, broken.stderr); // three lines and the last line break
    assert.equal(lines[0], "❌ Cannot load personas: 2 problems");
    assert.ok(
      lines[1]!.startsWith(`  - ${dir}/broken/p.ts: colour\\x1b[31m\\x0aforged: ok: unknown field; `),
      broken.stderr,
    );
    assert.ok(
      lines[2]!.startsWith(`  - ${dir}/broken/p.ts: tools[0] (a\\u202eb).name: "a\\u202eb" `),
      broken.stderr,
    );

    // A persona that loads: its description, instructions and opening messages are escaped line by line.
    await Deno.writeTextFile(
      `${dir}/d.ts`,
      'export default { voice: "marin", description: "Desk \\u202eevil\\u0085",\n' +
        '  instructions: "Line one \\u001b[2J\\nLine two\\u2028three" };\n',
    );
    const preview = await runTask(["d"], dir);
    assert.equal(preview.code, 0, preview.stderr);
    assert.doesNotMatch(preview.stdout, RAW_CONTROL);
    const shown = preview.stdout.split("\n");
    assert.equal(shown[0], 'Persona "d": Desk \\u202eevil\\x85');
    assert.deepEqual(shown.slice(shown.indexOf("Line one \\x1b[2J"), -1).slice(0, 2), [
      "Line one \\x1b[2J",
      "Line two\\u2028three",
    ]);
    assert.ok(
      shown.includes('    "instructions": "Line one \\u001b[2J\\nLine two\\u2028three",'),
      preview.stdout,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task persona refuses an OPENAI_REALTIME_MODEL startup refuses, with startup's line", async () => {
  const { code, stdout, stderr } = await runTask(["alex"], TEST_PERSONAS_DIR, "gpt-4o-mini");
  assert.equal(code, 1);
  assert.equal(stdout, "");
  const line = `OPENAI_REALTIME_MODEL: ${modelProblem("gpt-4o-mini")}`;
  assert.equal(stderr, `❌ ${line}\n`);
  assert.ok(checkConfig({ OPENAI_REALTIME_MODEL: "gpt-4o-mini" }).problems.includes(line), "startup's line");
});

Deno.test("deno task persona names the helper module, and the line, where an import fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_persona_cli_helper_" });
  try {
    await Deno.mkdir(`${dir}/lib`);
    await Deno.writeTextFile(
      `${dir}/_pitch.ts`,
      'export const PRODUCT = "Acme";\nexport const PITCH = `${PRODUCT} helps ${CUSTOMER}`;\n',
    );
    await Deno.writeTextFile(
      `${dir}/lib/tone.ts`,
      'export const TONE = "warm";\nexport const LINE = TONE +;\n',
    );
    const persona = (from: string, name: string) =>
      `import { ${name} } from "${from}";\nexport default { voice: "marin", instructions: ${name} };\n`;
    await Deno.writeTextFile(`${dir}/alex.ts`, persona("./_pitch.ts", "PITCH"));
    await Deno.writeTextFile(`${dir}/bob.ts`, persona("./lib/tone.ts", "LINE"));
    const { code, stderr } = await runTask(["alex"], dir);
    assert.equal(code, 1);
    assert.equal(
      stderr,
      "❌ Cannot load personas: 2 problems\n" +
        `  - ${dir}/alex.ts: import failed: ReferenceError: CUSTOMER is not defined (in _pitch.ts, line 2, column 42)\n` +
        `  - ${dir}/bob.ts: import failed: SyntaxError: Expression expected (in lib/tone.ts, line 2, column 27)\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
