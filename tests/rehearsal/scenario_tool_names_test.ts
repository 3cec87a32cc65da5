/**
 * A scenario's `toolCalled` / `toolNotCalled` must name a tool its persona's calls offer (its own
 * tools and the built-in actions it turns on; `toolNotCalled` may also name any built-in), and an
 * `endReason` list must not be empty: refused when the scenarios load, by `deno task rehearse` and
 * the Rehearse button alike, naming the file and the field, not found out after a billed run.
 */

import assert from "node:assert/strict";
import { END_REASONS } from "../../src/calls/call_events.ts";
import { createPersonaRegistry, loadPersonas } from "../../src/personas/loader.ts";
import { loadScenarios, scenarioFiles, ScenarioLoadError } from "../../src/rehearsal/loader.ts";
import { scenarioContext } from "../../src/rehearsal/setup.ts";
import { startTestParley } from "../../testing/parley_harness.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const MODEL = "gpt-realtime-2.1";
const API_TOKEN = "test-api-token-0123456789";

/** A scenario file's text: `persona` rehearsed with `expect`. */
function scenario(persona: string, expect: object[]): string {
  return `export default ${JSON.stringify({ persona, caller: { instructions: "You call." }, expect })};`;
}

/** The shipped personas (receptionist: take_message and end_call; alex: end_call and do_not_call). */
async function shippedContext() {
  return scenarioContext(createPersonaRegistry(await loadPersonas(`${REPO}personas`)), MODEL);
}

/** Writes `files` to a scratch folder, runs `body` on it, then removes it. */
async function withFolder(files: Record<string, string>, body: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "parley_scenario_tools_" });
  try {
    for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(`${dir}/${name}`, text);
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const GOOD = scenario("receptionist", [
  { name: "takes the message", toolCalled: "take_message", withArguments: { about: "lease" } },
  { name: "hangs up", toolCalled: "end_call" },
  { name: "no transfer", toolNotCalled: "transfer_call" },
  { name: "no keys", toolNotCalled: "press_keys" },
  { name: "ends cleanly", endReason: ["agent_hung_up", "caller_hung_up"] },
]);

Deno.test("a tool its persona lacks is refused, naming the file, the field and the persona's tools", async () => {
  const files = {
    "alex_bad.ts": scenario("alex", [{ name: "books", toolCalled: "take_message" }]),
    "good.ts": GOOD,
    "receptionist_bad.ts": scenario("receptionist", [
      { name: "takes it", toolCalled: "take_mesage" },
      { name: "no transfer", toolNotCalled: "transfer_cal" },
      { name: "transfers", toolCalled: "transfer_call" },
      { name: "no booking", toolNotCalled: "book_demo" },
    ]),
  };
  await withFolder(files, async (dir) => {
    const error = await loadScenarios(await scenarioFiles(dir), await shippedContext())
      .then(() => undefined, (e) => e);
    assert.ok(error instanceof ScenarioLoadError, String(error));
    const builtIns = "(toolNotCalled may also name a built-in: do_not_call, transfer_call, press_keys)";
    assert.deepEqual(error.problems, [
      `${dir}/alex_bad.ts: expect[0].toolCalled: "take_message" is not a tool of persona alex; ` +
      "its tools are end_call, do_not_call",
      `${dir}/receptionist_bad.ts: expect[0].toolCalled: "take_mesage" is not a tool of persona ` +
      'receptionist; its tools are take_message, end_call; did you mean "take_message"?',
      `${dir}/receptionist_bad.ts: expect[1].toolNotCalled: "transfer_cal" is not a tool of persona ` +
      `receptionist; its tools are take_message, end_call ${builtIns}; did you mean "transfer_call"?`,
      `${dir}/receptionist_bad.ts: expect[2].toolCalled: "transfer_call" is a built-in action persona ` +
      "receptionist does not turn on; its tools are take_message, end_call",
      `${dir}/receptionist_bad.ts: expect[3].toolNotCalled: "book_demo" is not a tool of persona ` +
      `receptionist; its tools are take_message, end_call ${builtIns}`,
    ]);
  });
});

Deno.test("an empty endReason list is refused, naming the file, the field and the end reasons", async () => {
  await withFolder({ "empty.ts": scenario("alex", [{ name: "ends", endReason: [] }]) }, async (dir) => {
    const error = await loadScenarios(await scenarioFiles(dir), await shippedContext())
      .then(() => undefined, (e) => e);
    assert.ok(error instanceof ScenarioLoadError, String(error));
    assert.deepEqual(error.problems, [
      `${dir}/empty.ts: expect[0].endReason: empty list; give one or more of ${END_REASONS.join(", ")}`,
    ]);
    assert.match(error.problems[0]!, /one or more of caller_hung_up, agent_hung_up, transferred, /);
  });
});

Deno.test("scenarioContext gives the tools a persona's calls offer; a scenario using them loads", async () => {
  const context = await shippedContext();
  assert.deepEqual(context.personaTools?.("receptionist"), ["take_message", "end_call"]);
  assert.deepEqual(context.personaTools?.("alex"), ["end_call", "do_not_call"]);
  assert.equal(context.personaTools?.("nobody"), undefined);
  // A scenario using a persona tool and built-in actions (enabled or not, for toolNotCalled) loads.
  await withFolder({ "good.ts": GOOD }, async (dir) => {
    const loaded = await loadScenarios(await scenarioFiles(dir), context);
    assert.deepEqual(loaded.map((s) => s.id), ["good"]);
  });
  // Tools are not checked where they are not known (`--url`: only the running server's persona list).
  const bad = scenario("receptionist", [{ name: "x", toolCalled: "take_mesage" }]);
  await withFolder({ "bad.ts": bad }, async (dir) => {
    const loaded = await loadScenarios(await scenarioFiles(dir), {
      ...context,
      personaTools: () => undefined,
    });
    assert.equal(loaded.length, 1);
  });
});

Deno.test("the Rehearse button refuses a tool its persona lacks (transfer and keypad on)", async () => {
  const personasDir = await Deno.makeTempDir({ prefix: "parley_personas_" });
  await Deno.writeTextFile(
    `${personasDir}/desk.ts`,
    `export default {
      voice: "marin",
      instructions: "You answer the phone.",
      transfer: { to: "+14155550100" },
      keypad: true,
      tools: [{ name: "lookup_order", description: "Finds an order.", run: () => ({ found: true }) }],
    };`,
  );
  await withFolder({
    "desk.ts": scenario("desk", [
      { name: "looks up", toolCalled: "lookup_order" },
      { name: "transfers", toolCalled: "transfer_call" },
      { name: "no hang-up", toolNotCalled: "end_cal" },
    ]),
  }, async (dir) => {
    const parley = await startTestParley({
      env: { API_TOKEN, DEFAULT_PERSONA: "desk" },
      personasDir,
      scenariosDir: dir,
    });
    try {
      const response = await fetch(`${parley.origin}/api/personas/desk/rehearse`, {
        method: "POST",
        headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
        body: "{}",
      });
      const text = await response.text();
      const events = text.trim().split("\n\n");
      assert.equal(events.length, 1, text);
      assert.ok(events[0]!.startsWith("event: problem\ndata: "), text);
      const { message } = JSON.parse(events[0]!.slice("event: problem\ndata: ".length));
      assert.equal(
        message,
        "Cannot use the scenarios:\n" +
          `  - ${dir}/desk.ts: expect[2].toolNotCalled: "end_cal" is not a tool of persona desk; ` +
          "its tools are lookup_order, transfer_call, press_keys " +
          '(toolNotCalled may also name a built-in: end_call, do_not_call); did you mean "end_call"?',
      );
    } finally {
      await parley.close();
      await Deno.remove(personasDir, { recursive: true });
    }
  });
});
