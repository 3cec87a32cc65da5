import assert from "node:assert/strict";
import type { PersonaTool } from "../../src/personas/tools.ts";
import { ToolRunner } from "../../src/relay/tool_runner.ts";

const lines: string[] = [];
const context = {
  callSid: "CA" + "0".repeat(32),
  parameters: { lead: "Ada" },
  personaId: "alex",
  log: (m: string) => lines.push(m),
};

function runner(tools: PersonaTool[]): ToolRunner {
  return new ToolRunner(tools, { context });
}

const lookup: PersonaTool = {
  name: "lookup_order",
  description: "Looks up an order",
  parameters: { type: "object", properties: { id: { type: "string" } }, required: ["id"] },
  run: (args, call) => ({ id: args.id, status: "shipped", for: call.parameters.lead, sid: call.callSid }),
};

Deno.test("a tool's result goes back as JSON, and it sees its arguments and the call", async () => {
  const outcome = await runner([lookup]).run({
    callId: "c1",
    name: "lookup_order",
    arguments: '{"id":"42"}',
  });
  assert.equal(outcome?.status, "ok");
  assert.deepEqual(JSON.parse(outcome!.output), {
    id: "42",
    status: "shipped",
    for: "Ada",
    sid: context.callSid,
  });
});

Deno.test("each call id runs once", async () => {
  let runs = 0;
  const tools = runner([{ ...lookup, run: () => ++runs }]);
  const request = { callId: "c1", name: "lookup_order", arguments: '{"id":"1"}' };
  assert.equal((await tools.run(request))?.output, "1");
  assert.equal(await tools.run(request), undefined);
  assert.equal(runs, 1);
});

Deno.test("bad arguments, unknown tools and throwing tools become error outputs the model can speak about", async () => {
  const tools = runner([lookup, {
    name: "broken",
    description: "Always fails",
    run: () => Promise.reject(new Error("the booking system is down")),
  }, {
    name: "thrower",
    description: "Throws a string",
    run: () => {
      throw "nope";
    },
  }]);
  const cases: [string, string, string, string][] = [
    ["lookup_order", "{id: 42", "bad_arguments", "the arguments are not valid JSON"],
    ["lookup_order", "[1]", "bad_arguments", "the arguments must be a JSON object"],
    ["lookup_order", "{}", "bad_arguments", "missing required argument: id"],
    ["nope", "{}", "unknown_tool", 'there is no tool named "nope"'],
    ["broken", "", "failed", "the booking system is down"],
    ["thrower", "{}", "failed", "nope"],
  ];
  for (const [index, [name, args, status, error]] of cases.entries()) {
    const outcome = await tools.run({ callId: `c${index}`, name, arguments: args });
    assert.equal(outcome?.status, status, name);
    assert.deepEqual(JSON.parse(outcome!.output), { error });
  }
});

Deno.test("a tool slower than its timeoutMs is abandoned, and its signal aborts", async () => {
  let aborted: unknown;
  const slow: PersonaTool = {
    name: "slow",
    description: "Never answers in time",
    timeoutMs: 30,
    run: (_args, call) =>
      new Promise((resolve) => {
        const timer = setTimeout(resolve, 5_000);
        call.signal.addEventListener("abort", () => {
          aborted = call.signal.reason;
          clearTimeout(timer);
          resolve("too late");
        });
      }),
  };
  const outcome = await runner([slow]).run({ callId: "c1", name: "slow", arguments: "{}" });
  assert.equal(outcome?.status, "timed_out");
  assert.deepEqual(JSON.parse(outcome!.output), { error: "the tool did not answer within 30 ms" });
  assert.ok(outcome!.durationMs >= 29, `${outcome!.durationMs}`);
  assert.match(String(aborted), /timed out/);
});

Deno.test("ending the call settles a running tool at once and aborts its signal", async () => {
  let aborted: unknown;
  const tools = runner([{
    name: "wait",
    description: "Waits until told to stop",
    run: (_args, call) =>
      new Promise((resolve) => {
        const timer = setTimeout(resolve, 5_000);
        call.signal.addEventListener("abort", () => {
          aborted = call.signal.reason;
          clearTimeout(timer);
          resolve("stopped");
        });
      }),
  }]);
  const running = tools.run({ callId: "c1", name: "wait", arguments: "{}" });
  await new Promise((resolve) => queueMicrotask(() => resolve(undefined)));
  tools.close();
  const outcome = await running;
  assert.equal(outcome?.status, "failed");
  assert.deepEqual(JSON.parse(outcome!.output), { error: "the call ended before the tool answered" });
  assert.match(String(aborted), /the call ended/);
  // A call after the end does not run the tool at all.
  aborted = undefined;
  const late = await tools.run({ callId: "c2", name: "wait", arguments: "{}" });
  assert.deepEqual(JSON.parse(late!.output), { error: "the call ended before the tool ran" });
  assert.equal(aborted, undefined);
});

Deno.test("results that are not JSON-able still answer the model", async () => {
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  const tools = runner([
    { name: "nothing", description: "Returns nothing", run: () => undefined },
    { name: "circular", description: "Returns a cycle", run: () => circular },
  ]);
  assert.equal((await tools.run({ callId: "a", name: "nothing", arguments: "{}" }))?.output, '{"ok":true}');
  assert.deepEqual(
    JSON.parse((await tools.run({ callId: "b", name: "circular", arguments: "{}" }))!.output),
    {
      error: "the tool's result could not be turned into JSON",
    },
  );
});
