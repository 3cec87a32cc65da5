import assert from "node:assert/strict";
import { BUILT_IN_TOOL_NAMES, checkTools } from "../../src/personas/tools.ts";
import { offeredTools } from "../../src/relay/built_in_tools.ts";

function problemsOf(tools: unknown): string[] {
  const problems: string[] = [];
  checkTools(tools, (field, detail) => problems.push(`${field}: ${detail}`));
  return problems;
}

const run = () => ({ ok: true });

Deno.test("a well-formed tool list passes, and no tools at all is fine", () => {
  assert.deepEqual(problemsOf(undefined), []);
  assert.deepEqual(
    problemsOf([{
      name: "lookup_order",
      description: "Looks up an order by its number",
      parameters: { type: "object", properties: { id: { type: "string" } }, required: ["id"] },
      run,
      timeoutMs: 5_000,
    }]),
    [],
  );
});

Deno.test("tool problems name the tool and the field, all at once", () => {
  assert.deepEqual(
    problemsOf([
      { name: "end_call", description: "Bye", run },
      { name: "book slot", description: "", parameters: { type: "array" }, run: "no" },
      { name: "dup", description: "a", run },
      { name: "dup", description: "b", run, timeoutMs: 0, retries: 3 },
    ]),
    [
      'tools[0] (end_call).name: "end_call" is built in; choose another name (built-ins: end_call, do_not_call, transfer_call, press_keys)',
      'tools[1] (book slot).name: "book slot" must be 1 to 64 letters, digits, _ or -',
      "tools[1] (book slot).description: missing; say what the tool does and when the agent should use it",
      'tools[1] (book slot).parameters: must be a JSON schema of type "object", e.g. { type: "object", properties: { … } }',
      "tools[1] (book slot).run: missing or not a function; write run(args, call) { … } returning the result",
      "tools[3] (dup).retries: unknown field; a tool has name, description, parameters, run, timeoutMs",
      'tools[3] (dup).name: "dup" is declared twice; tool names must be unique',
      "tools[3] (dup).timeoutMs: 0 is not a whole number of ms from 1 to 120000",
    ],
  );
});

Deno.test("tools must be a list of objects with a valid name of at most 64 characters", () => {
  assert.deepEqual(problemsOf({ name: "x" }), [
    "tools: not a list; write tools: [{ name, description, parameters, run }]",
  ]);
  assert.deepEqual(problemsOf([42]), [
    "tools[0]: not an object; write { name, description, parameters, run }",
  ]);
  assert.equal(problemsOf([{ name: "a".repeat(65), description: "d", run }]).length, 1);
  assert.deepEqual(problemsOf([{ name: "a".repeat(64), description: "d", run }]), []);
  assert.deepEqual(
    problemsOf([{ name: "t", description: "d", run, parameters: { type: "object", required: "id" } }]),
    ["tools[0] (t).parameters.required: must be a list of argument names"],
  );
});

Deno.test("every tool Parley can offer on its own is a built-in name a persona's tool may not take", () => {
  // A persona with every flag on is offered every built-in; none of them may be shadowed.
  const offered = offeredTools({
    voice: "marin",
    instructions: "…",
    endCall: true,
    doNotCall: true,
    transfer: { to: "+14155550100" },
    keypad: true,
  }).map((tool) => tool.name);
  assert.deepEqual([...offered].sort(), [...BUILT_IN_TOOL_NAMES].sort());
  for (const name of offered) {
    assert.deepEqual(
      problemsOf([{ name, description: "mine", run }]),
      [
        `tools[0] (${name}).name: "${name}" is built in; choose another name (built-ins: ${
          BUILT_IN_TOOL_NAMES.join(", ")
        })`,
      ],
    );
  }
});
