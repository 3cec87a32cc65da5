import assert from "node:assert/strict";
import { join } from "node:path";
import { loadPersonas } from "../src/personas/loader.ts";
import { ROLLOVER_MS } from "../src/relay/session_keeper.ts";
import { withPersonaDir } from "./personas/_persona_dir.ts";
import { readmeSection } from "../testing/readme.ts";
import { typeCheck } from "../testing/type_check.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** The ```ts blocks of the Personas and Actions sections that are persona files. */
function personaExamples(): string[] {
  const blocks = [readmeSection("Personas"), readmeSection("Actions")].flatMap((text) =>
    [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!)
  );
  return blocks.filter((block) => /^export default /m.test(block));
}

async function run(args: string[]): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, output: new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr) };
}

Deno.test("README persona examples pass deno check, deno fmt --check and the persona loader as written", async () => {
  const examples = personaExamples();
  assert.ok(examples.length >= 2, `found ${examples.length} persona examples`);
  assert.ok(examples.some((e) => !e.includes("definePersona")), "a plain-object example is among them");
  const files = Object.fromEntries(examples.map((source, i) => [`readme_example_${i + 1}.ts`, source]));
  await withPersonaDir(files, async (dir) => {
    const paths = Object.keys(files).map((name) => join(dir, name));
    const config = join(ROOT, "deno.json");
    // Checked by content (testing/type_check.ts), in one run: an example that passed is not checked again.
    const checked = await typeCheck(examples);
    checked.forEach(({ ok, output }, i) =>
      assert.ok(ok, `deno check refused README persona example ${i + 1}:\n${output}\n---\n${examples[i]}`)
    );
    const fmt = await run(["fmt", "--check", "--config", config, ...paths]);
    assert.equal(fmt.code, 0, `deno fmt --check refused a README example:\n${fmt.output}`);
    const loaded = await loadPersonas(dir);
    assert.deepEqual([...loaded.keys()].sort(), Object.keys(files).map((n) => n.slice(0, -3)).sort());
  });
});

Deno.test("README troubleshooting: long calls roll over at SESSION_ROLLOVER_MINUTES, they do not end at 60", () => {
  const rows = readmeSection("Troubleshooting").split("\n").filter((line) => line.startsWith("| "));
  assert.ok(
    !rows.some((row) => /Calls end after 60 minutes/.test(row)),
    "no row says calls end at 60 minutes",
  );
  const row = rows.find((r) => r.includes("(rollover)"));
  assert.ok(row !== undefined, "a row explains the rollover");
  assert.match(row, new RegExp(`\`SESSION_ROLLOVER_MINUTES\` \\(${ROLLOVER_MS / 60_000}\\)`));
  assert.match(row, /the call goes on/);
});
