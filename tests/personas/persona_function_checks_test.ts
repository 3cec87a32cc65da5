/**
 * Load-time checks of what a call would trip over later: an `async` `voicemail` or `transfer.to`,
 * and tool `parameters` that cannot be sent as JSON (a cycle, a BigInt) or whose property schemas
 * are not schemas. Each problem names the file and the field, through the loader and
 * `deno task persona`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { loadPersonas, PersonaLoadError } from "../../src/personas/loader.ts";
import { withPersonaDir } from "./_persona_dir.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A persona source with `fields` after a voice and instructions. */
function persona(fields: string): string {
  return `export default { voice: "coral", instructions: "You are Vic.", ${fields} };\n`;
}

/** A persona source whose one tool declares `parameters` (source text, `order` may be used). */
function toolPersona(parameters: string, before = ""): string {
  return `${before}\nexport default { voice: "coral", instructions: "You are Cy.", tools: [\n` +
    `  { name: "find", description: "Finds an order.", parameters: ${parameters}, run() { return 1; } },\n] };\n`;
}

/** The problems `loadPersonas(dir)` refuses the folder with. */
async function loadProblems(dir: string): Promise<string[]> {
  try {
    await loadPersonas(dir);
  } catch (error) {
    if (error instanceof PersonaLoadError) return error.problems;
    throw error;
  }
  assert.fail("expected a PersonaLoadError");
}

Deno.test("an async voicemail or transfer.to is refused at load, naming the file and the field", async () => {
  const files = {
    "vm.ts": persona('voicemail: async (call) => "Tell " + call.parameters.lead + " Vic called."'),
    "to.ts": persona('transfer: { to: async () => "+14155550100" }'),
    "gen.ts": persona("voicemail: async function* () {}"),
  };
  await withPersonaDir(files, async (dir) => {
    const at = (name: string) => `${join(dir, name)}: `;
    assert.deepEqual(await loadProblems(dir), [
      `${at("gen.ts")}voicemail: an async function is not supported; return the message directly`,
      `${at("to.ts")}transfer.to: an async function is not supported; return the number directly`,
      `${at("vm.ts")}voicemail: an async function is not supported; return the message directly`,
    ]);
  });
});

Deno.test("tool parameters that cannot be sent as JSON are refused at load: a cycle, a BigInt", async () => {
  const files = {
    "cycle.ts": toolPersona(
      '{ type: "object", properties: { order } }',
      'const order = { type: "object", properties: {} };\norder.properties.parent = order;',
    ),
    "big.ts": toolPersona('{ type: "object", properties: { n: { type: "integer", maximum: 10n } } }'),
  };
  await withPersonaDir(files, async (dir) => {
    const at = (name: string) => `${join(dir, name)}: tools[0] (find).parameters: cannot be sent as JSON `;
    assert.deepEqual(await loadProblems(dir), [
      `${
        at("big.ts")
      }(Do not know how to serialize a BigInt); write a plain schema, without cycles or BigInts`,
      `${
        at("cycle.ts")
      }(Converting circular structure to JSON); write a plain schema, without cycles or BigInts`,
    ]);
  });
});

Deno.test("each tool property must be a schema whose type is a JSON Schema type, nested ones too", async () => {
  // Bad properties beside good ones (type lists, enums without a type, tuples, `{}`): only the bad are named.
  const files = {
    "props.ts": toolPersona(
      '{ type: "object", properties: { order: "string", n: { type: "strng" }, m: { type: ["string", "nul"] },' +
        ' list: { type: "array", items: { type: "object", properties: { sku: 5, ok: { type: "string" } } } },' +
        ' note: { type: ["string", "null"], description: "A note" }, size: { enum: ["S", "M"] },' +
        ' pair: { type: "array", items: [{ type: "string" }, { type: "number" }] }, any: {} },' +
        ' required: ["order"] }',
    ),
  };
  await withPersonaDir(files, async (dir) => {
    const at = `${join(dir, "props.ts")}: tools[0] (find).parameters.properties.`;
    const types = "use one of object, array, string, number, integer, boolean, null, or a list of them";
    assert.deepEqual(await loadProblems(dir), [
      `${at}order: "string" is not a JSON schema; write one, e.g. { type: "string" }`,
      `${at}n.type: "strng" is not a JSON Schema type; ${types}`,
      `${at}m.type: "nul" is not a JSON Schema type; ${types}`,
      `${at}list.items.properties.sku: 5 is not a JSON schema; write one, e.g. { type: "string" }`,
    ]);
  });
});

Deno.test("deno task persona refuses a circular tool schema, naming the file and the tool", async () => {
  const source = toolPersona(
    '{ type: "object", properties: { order } }',
    'const order = { type: "object", properties: {} };\norder.properties.parent = order;',
  );
  await withPersonaDir({ "cy.ts": source }, async (dir) => {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "persona", "cy"],
      cwd: ROOT,
      env: { PERSONAS_DIR: dir, OPENAI_REALTIME_MODEL: "gpt-realtime", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 1, new TextDecoder().decode(stdout));
    assert.ok(
      err.includes(`${join(dir, "cy.ts")}: tools[0] (find).parameters: cannot be sent as JSON`),
      err,
    );
  });
});
