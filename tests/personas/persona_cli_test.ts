import assert from "node:assert/strict";
import { parsePersonaArgs } from "../../src/persona_cli.ts";
import { TEST_PERSONAS_DIR } from "../fakes/parley_harness.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function runTask(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "persona", ...args],
    cwd: ROOT,
    env: { PERSONAS_DIR: TEST_PERSONAS_DIR, OPENAI_REALTIME_MODEL: "gpt-realtime-2.1", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, stdout: new TextDecoder().decode(stdout), stderr: new TextDecoder().decode(stderr) };
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

Deno.test("persona arguments: bad --param and a missing id are explained", () => {
  assert.deepEqual(parsePersonaArgs(["alex", "--param", "a=b=c"]), { id: "alex", parameters: { a: "b=c" } });
  assert.throws(() => parsePersonaArgs(["alex", "--param", "oops"]), /--param needs name=value, got "oops"/);
  assert.throws(() => parsePersonaArgs([]), /Name a persona: usage: deno task persona <id>/);
});
