import assert from "node:assert/strict";
import { startTestParley, TEST_PERSONAS_DIR } from "../../testing/parley_harness.ts";
import { withPersonaDir } from "./_persona_dir.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const API_TOKEN = "preview-api-token-0123456789abcdef";

/** A persona with two tools of its own and the built-in end_call: three tools offered. */
const DESK = `export default {
  description: "Front desk with three tools",
  voice: "marin",
  instructions: "You answer for Acme.",
  endCall: true,
  tools: [
    {
      name: "lookup_order",
      description: "Find an order by its number.",
      parameters: { type: "object", properties: { order: { type: "string" } }, required: ["order"] },
      run: () => ({ status: "shipped" }),
    },
    { name: "book_slot", description: "Book a visit.", run: () => ({ booked: true }) },
  ],
};
`;

async function withDeskPersonas(fn: (dir: string) => Promise<void>): Promise<void> {
  const files: Record<string, string> = { "desk.ts": DESK };
  for (const name of ["tester.ts", "quiet.ts"]) {
    files[name] = await Deno.readTextFile(`${TEST_PERSONAS_DIR}${name}`);
  }
  await withPersonaDir(files, fn);
}

Deno.test("deno task persona lists a persona's tools, its own and the built-ins, not 'none'", async () => {
  await withDeskPersonas(async (dir) => {
    const { code, stdout } = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "persona", "desk"],
      cwd: ROOT,
      env: { PERSONAS_DIR: dir, OPENAI_REALTIME_MODEL: "gpt-realtime-2.1", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stdout);
    assert.equal(code, 0, text);
    const tools = text.slice(text.indexOf("── Tools"));
    assert.doesNotMatch(tools, /── Tools ─+\nnone/);
    const names = [...tools.matchAll(/"name": "([a-z_]+)"/g)].map((m) => m[1]);
    assert.deepEqual(names, ["lookup_order", "book_slot", "end_call"]);
    assert.match(tools, /"description": "Find an order by its number\."/);
  });
});

Deno.test("GET /api/personas/:id/preview offers the same tools a call's session.update does", async () => {
  await withDeskPersonas(async (dir) => {
    const t = await startTestParley({ personasDir: dir, env: { API_TOKEN } });
    try {
      const response = await fetch(`${t.origin}/api/personas/desk/preview`, {
        headers: { authorization: `Bearer ${API_TOKEN}` },
      });
      assert.equal(response.status, 200);
      const preview = await response.json() as {
        tools: { name: string; parameters: unknown }[];
        openingMessages: { type: string; session?: { tools?: { name: string }[] } }[];
      };
      assert.deepEqual(preview.tools.map((tool) => tool.name), ["lookup_order", "book_slot", "end_call"]);
      assert.deepEqual(preview.tools[1]!.parameters, { type: "object", properties: {} });
      const update = preview.openingMessages.find((m) => m.type === "session.update");
      assert.deepEqual(
        update?.session?.tools?.map((tool) => tool.name),
        preview.tools.map((tool) => tool.name),
      );
    } finally {
      await t.close();
    }
  });
});
