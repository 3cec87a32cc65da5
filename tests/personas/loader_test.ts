/**
 * Tests of the persona loader: discovery, import failures reported by file, the registry and
 * per-call instructions.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createPersonaRegistry,
  isPersonaFileName,
  loadPersonas,
  PersonaLoadError,
  renderInstructions,
} from "../../src/personas/loader.ts";
import type { CallContext, LoadedPersona } from "../../src/personas/types.ts";
import { personaSource, withPersonaDir } from "./_persona_dir.ts";
import { shippedPersonas } from "./_shipped.ts";

const CALL: Omit<CallContext, "parameters"> = { callSid: "CA0123", streamSid: "MZ0123" };

/** The PersonaLoadError `promise` rejects with. */
async function loadError(promise: Promise<unknown>): Promise<PersonaLoadError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PersonaLoadError) return error;
    throw error;
  }
  assert.fail("expected a PersonaLoadError");
}

Deno.test("the shipped personas load and validate", async (t) => {
  // The files Parley ships, as shipped: personas the user adds or edits are not this test's business.
  const { sources, edited } = await shippedPersonas();
  let personas = new Map<string, LoadedPersona>();
  await withPersonaDir(sources, async (dir) => {
    personas = await loadPersonas(dir);
  });
  assert.deepEqual(
    [...personas.keys()].sort(),
    Object.keys(sources).map((n) => n.replace(/\.ts$/, "")).sort(),
  );
  const shipped = (name: string) => !edited.includes(`${name}.ts`);

  await t.step({
    name: "alex speaks first with shimmer on a phone-line VAD",
    ignore: !shipped("alex"),
    fn: () => {
      const alex = personas.get("alex");
      assert.ok(alex !== undefined);
      assert.equal(alex.id, "alex");
      assert.match(alex.file, /alex\.ts$/);
      assert.equal(alex.persona.voice, "shimmer");
      assert.match(alex.persona.greeting ?? "", /introduce yourself as Alex/i);
      assert.match(alex.persona.greeting ?? "", /good time/);
      assert.deepEqual(alex.persona.vad, {
        type: "server_vad",
        threshold: 0.6,
        prefixPaddingMs: 300,
        silenceDurationMs: 500,
      });
    },
  });

  await t.step({
    name: "alex keeps his promise: a lead who asks not to be called again is put on the do-not-call list",
    ignore: !shipped("alex") || !shipped("alex_live"),
    fn: () => {
      for (const id of ["alex", "alex_live"]) {
        const persona = personas.get(id)!.persona;
        assert.equal(persona.doNotCall, true, `${id} offers do_not_call`);
        assert.match(
          renderInstructions(personas.get(id)!, { ...CALL, parameters: { lead: "Dana" } }),
          /removed from the list.*call do_not_call/,
          `${id}'s script says when to call it`,
        );
      }
    },
  });

  await t.step({
    name: "alex_live is Alex's script and greeting on GPT-Live, without Realtime-only fields",
    ignore: !shipped("alex") || !shipped("alex_live"),
    fn: () => {
      const alex = personas.get("alex")!;
      const live = personas.get("alex_live");
      assert.ok(live !== undefined);
      assert.equal(live.persona.model, "gpt-live-1.1");
      assert.equal(live.persona.greeting, alex.persona.greeting);
      assert.equal(live.persona.vad, undefined);
      const call = { ...CALL, parameters: { lead: "Dana" } };
      assert.equal(renderInstructions(live, call), renderInstructions(alex, call));
    },
  });

  await t.step({
    name: "alex greets the lead by name from the call parameters",
    ignore: !shipped("alex"),
    fn: () => {
      const alex = personas.get("alex");
      assert.ok(alex !== undefined);
      const named = renderInstructions(alex, {
        ...CALL,
        parameters: { lead: "Dana Reyes", company: "Brightsmile Dental" },
      });
      assert.match(named, /Dana Reyes at Brightsmile Dental/);
      assert.match(named, /one or two sentences/);
      assert.match(renderInstructions(alex, { ...CALL, parameters: { leadName: "Sam" } }), /call to Sam\./);
      const anonymous = renderInstructions(alex, { ...CALL, parameters: {} });
      assert.match(anonymous, /do not know their name/);
      assert.doesNotMatch(anonymous, /undefined/);
    },
  });

  await t.step({
    name: "the receptionist greets inbound callers with marin",
    ignore: !shipped("receptionist"),
    fn: () => {
      const receptionist = personas.get("receptionist");
      assert.ok(receptionist !== undefined);
      assert.equal(receptionist.persona.voice, "marin");
      assert.ok((receptionist.persona.greeting ?? "").length > 0);
      const rendered = renderInstructions(receptionist, {
        ...CALL,
        parameters: { business: "Northside Clinic" },
      });
      assert.match(rendered, /Northside Clinic/);
    },
  });
});

Deno.test("loadPersonas loads a plain-object persona that imports nothing, from a folder with spaces", async () => {
  await withPersonaDir(
    { "plain.ts": personaSource({ voice: "coral", instructions: "Be kind." }) },
    async (dir) => {
      assert.match(dir, / /);
      const personas = await loadPersonas(dir);
      assert.deepEqual(personas.get("plain"), {
        id: "plain",
        file: join(dir, "plain.ts"),
        persona: { voice: "coral", instructions: "Be kind." },
      });
    },
  );
});

Deno.test("loadPersonas skips tests, declarations and files starting with _ or .", async () => {
  const good = personaSource({ voice: "ash", instructions: "Hi" });
  const files = {
    "a.ts": good,
    "a_test.ts": "throw new Error('not a persona');",
    "b.test.ts": "throw new Error('not a persona');",
    "types.d.ts": "export {};",
    "_shared.ts": "export const x = 1;",
    ".a.ts": "broken(",
    "notes.md": "# notes",
    "data.json": "{}",
  };
  await withPersonaDir(files, async (dir) => {
    await Deno.mkdir(join(dir, "sub.ts"));
    assert.deepEqual([...(await loadPersonas(dir)).keys()], ["a"]);
  });
  assert.equal(isPersonaFileName("alex.ts"), true);
  assert.equal(isPersonaFileName("alex_test.ts"), false);
});

Deno.test("loadPersonas names the file that fails to import", async (t) => {
  const files = {
    "syntax.ts": 'export default { voice: "marin", instructions: "Hi",\n',
    "throws.ts": 'const x = 1;\nthrow new Error("no API key for the CRM");\n',
    "missing_import.ts": 'import { x } from "./nowhere.ts";\nexport default x;\n',
    "no_default.ts": 'export const persona = { voice: "marin", instructions: "Hi" };\n',
  };
  await withPersonaDir(files, async (dir) => {
    const error = await loadError(loadPersonas(dir, { version: 7 }));
    const problem = (name: string) => error.problems.find((p) => p.startsWith(`${join(dir, name)}: `)) ?? "";

    await t.step("a syntax error, with the line", () => {
      assert.match(
        problem("syntax.ts"),
        /: import failed: SyntaxError: Unexpected token .* \(line \d+, column \d+\)$/,
      );
    });
    await t.step("a file that throws while importing, with the line", () => {
      assert.equal(
        problem("throws.ts"),
        `${join(dir, "throws.ts")}: import failed: Error: no API key for the CRM (line 2, column 7)`,
      );
    });
    await t.step("a file whose own import is missing, without the cache-busting query", () => {
      assert.match(problem("missing_import.ts"), /: import failed: .*nowhere\.ts/);
      assert.doesNotMatch(error.message, /\?v=/);
    });
    await t.step("a file with no default export", () => {
      assert.match(problem("no_default.ts"), /: default export: missing; end the file with export default/);
    });
    assert.equal(error.problems.length, 4);
  });
});

Deno.test("loadPersonas reports several problems in several files in one error", async () => {
  const files = {
    "good.ts": personaSource({ voice: "marin", instructions: "Hi" }),
    "one.ts": personaSource({ voice: "nova", instuctions: "Hi" }),
    "two.ts": personaSource({
      voice: "sage",
      instructions: "",
      temperature: 0.7,
      vad: { type: "server_vad", threshold: 3 },
    }),
    "three.ts": "export default {",
    "bad name.ts": personaSource({ voice: "marin", instructions: "Hi" }),
  };
  await withPersonaDir(files, async (dir) => {
    const error = await loadError(loadPersonas(dir));
    const at = (name: string) => `${join(dir, name)}: `;
    assert.deepEqual(error.problems.map((p) => p.split(": ").slice(0, 2).join(": ")), [
      `${at("bad name.ts")}file name`,
      `${at("one.ts")}instuctions`,
      `${at("one.ts")}voice`,
      `${at("one.ts")}instructions`,
      `${at("three.ts")}import failed`,
      `${at("two.ts")}temperature`,
      `${at("two.ts")}instructions`,
      `${at("two.ts")}vad.threshold`,
    ]);
    assert.match(error.message, /^Cannot load personas: 8 problems\n {2}- /);
    for (const problem of error.problems) assert.ok(error.message.includes(`\n  - ${problem}`));
    assert.match(error.problems[0] ?? "", /"bad name" is not a valid persona id; rename the file/);
  });
});

Deno.test("loadPersonas names the file and field of a value no message can print, and of a getter that throws", async () => {
  const files = {
    "big.ts": 'export default { voice: "marin", instructions: "Hi", endCall: 1n, tools: [\n' +
      '  { name: 2n, description: "d", parameters: { type: "object", properties: {} }, run() {}, timeoutMs: 5n },\n] };\n',
    "getter.ts":
      'export default { voice: "marin", get instructions() { throw new Error("no CRM key"); } };\n',
    "good.ts": personaSource({ voice: "marin", instructions: "Hi" }),
  };
  await withPersonaDir(files, async (dir) => {
    const error = await loadError(loadPersonas(dir));
    const at = (name: string) => `${join(dir, name)}: `;
    assert.deepEqual(error.problems, [
      `${at("big.ts")}tools[0].name: 2n must be 1 to 64 letters, digits, _ or -`,
      `${at("big.ts")}tools[0].timeoutMs: 5n is not a whole number of ms from 1 to 120000`,
      `${at("big.ts")}endCall: 1n is not true or false`,
      `${at("getter.ts")}default export: reading it threw Error: no CRM key`,
    ]);
  });
});

Deno.test("loadPersonas says which folder is missing or empty and what to do", async (t) => {
  await withPersonaDir({ "README.md": "personas go here" }, async (dir) => {
    await t.step("an empty folder", async () => {
      const error = await loadError(loadPersonas(dir));
      assert.equal(error.problems.length, 1);
      assert.match(
        error.problems[0] ?? "",
        /: folder: no persona files \(\*\.ts\) in .*; add one, .*PERSONAS_DIR/,
      );
    });
    await t.step("a missing folder", async () => {
      const missing = join(dir, "nope");
      const error = await loadError(loadPersonas(missing));
      assert.equal(error.problems.length, 1);
      assert.ok(error.problems[0]?.startsWith(`${missing}: folder: not found at ${missing}; create it`));
      assert.match(error.problems[0] ?? "", /PERSONAS_DIR/);
    });
    await t.step("a file instead of a folder", async () => {
      const error = await loadError(loadPersonas(join(dir, "README.md")));
      assert.match(error.problems[0] ?? "", /README\.md: folder: not a folder; or set PERSONAS_DIR/);
    });
  });
});

Deno.test("loadPersonas re-imports an edited file under a new version", async () => {
  await withPersonaDir({ "p.ts": personaSource({ voice: "marin", instructions: "One" }) }, async (dir) => {
    const first = await loadPersonas(dir, { version: 1 });
    await Deno.writeTextFile(join(dir, "p.ts"), personaSource({ voice: "cedar", instructions: "Two" }));
    const sameVersion = await loadPersonas(dir, { version: 1 });
    const next = await loadPersonas(dir, { version: 2 });
    assert.equal(first.get("p")?.persona.voice, "marin");
    assert.equal(sameVersion.get("p")?.persona.voice, "marin", "the module cache answers for the same URL");
    assert.equal(next.get("p")?.persona.voice, "cedar");
  });
});

Deno.test("createPersonaRegistry serves sorted ids and swaps the whole set on replace", () => {
  const loaded = (id: string): LoadedPersona => ({
    id,
    file: `/p/${id}.ts`,
    persona: { voice: "marin", instructions: id },
  });
  const initial = new Map([["zed", loaded("zed")], ["amy", loaded("amy")]]);
  const registry = createPersonaRegistry(initial);
  initial.delete("zed");
  assert.deepEqual(registry.ids(), ["amy", "zed"], "the registry keeps its own copy");
  assert.equal(registry.get("zed")?.id, "zed");

  registry.replace(new Map([["bob", loaded("bob")]]));
  assert.deepEqual(registry.ids(), ["bob"]);
  assert.equal(registry.get("amy"), undefined);
  registry.ids().push("mutated");
  assert.deepEqual(registry.ids(), ["bob"]);
});

Deno.test("renderInstructions renders a function persona for each call", async (t) => {
  const source = `export default {
  voice: "marin",
  instructions: ({ parameters, callSid }) => {
    if (parameters.mode === "throw") throw new Error("CRM lookup failed");
    if (parameters.mode === "empty") return "  ";
    if (parameters.mode === "number") return 42;
    return "Call " + callSid + " for " + (parameters.lead ?? "a stranger");
  },
};
`;
  await withPersonaDir(
    { "fn.ts": source, "text.ts": personaSource({ voice: "ash", instructions: "Fixed" }) },
    async (dir) => {
      const personas = await loadPersonas(dir);
      const fn = personas.get("fn");
      const text = personas.get("text");
      assert.ok(fn !== undefined && text !== undefined);
      const file = join(dir, "fn.ts");

      await t.step("a string is used as is", () => {
        assert.equal(renderInstructions(text, { ...CALL, parameters: { lead: "Ann" } }), "Fixed");
      });
      await t.step("a function gets the call's parameters and SIDs", () => {
        assert.equal(renderInstructions(fn, { ...CALL, parameters: { lead: "Ann" } }), "Call CA0123 for Ann");
      });
      await t.step("a function that throws gives an error naming the file", () => {
        assert.throws(() => renderInstructions(fn, { ...CALL, parameters: { mode: "throw" } }), {
          message: `${file}: instructions: the function threw: CRM lookup failed`,
        });
      });
      await t.step(
        "a function returning an empty string or a non-string gives an error naming the file",
        () => {
          assert.throws(() => renderInstructions(fn, { ...CALL, parameters: { mode: "empty" } }), {
            message: `${file}: instructions: the function returned an empty string; return the script`,
          });
          assert.throws(() => renderInstructions(fn, { ...CALL, parameters: { mode: "number" } }), {
            message: `${file}: instructions: the function returned number; return a non-empty string`,
          });
        },
      );
    },
  );
});

Deno.test("loadPersonas names the file in the way of a PERSONAS_DIR that goes through one", async () => {
  await withPersonaDir({ "README.md": "not a folder" }, async (dir) => {
    const through = join(dir, "README.md", "personas");
    const error = await loadError(loadPersonas(through));
    assert.deepEqual(error.problems, [
      `${through}: folder: not found at ${through}: "${join(dir, "README.md")}" is a file, not a folder; ` +
      "set PERSONAS_DIR to the folder that has the persona files",
    ]);
  });
});

Deno.test("loadPersonas names a dangling link as the file it cannot read, not the folder as missing", async () => {
  const good = personaSource({ voice: "ash", instructions: "Hi" });
  await withPersonaDir({ "a.ts": good }, async (dir) => {
    const target = join(dir, "gone", "old.ts");
    await Deno.symlink(target, join(dir, "old.ts"));
    const error = await loadError(loadPersonas(dir));
    assert.deepEqual(error.problems, [
      `${join(dir, "old.ts")}: cannot read it: it is a link to "${target}", which does not exist; ` +
      "fix the link or remove it",
    ]);
    assert.deepEqual(error.foundIds, ["a", "old"]);
    // A link that leads to a persona file loads; one starting with _ is skipped like any helper.
    await Deno.remove(join(dir, "old.ts"));
    await Deno.symlink(join(dir, "a.ts"), join(dir, "b.ts"));
    await Deno.symlink(target, join(dir, "_old.ts"));
    assert.deepEqual([...(await loadPersonas(dir)).keys()], ["a", "b"]);
  });
});

Deno.test("loadPersonas checks a persona without model against the engine of the default model", async (t) => {
  const files = {
    "beacon.ts": personaSource({ voice: "beacon", instructions: "Hi" }),
    "tuned.ts": personaSource({
      voice: "marin",
      instructions: "Hi",
      vad: { type: "server_vad" },
      reasoning: { effort: "low" },
    }),
  };
  await withPersonaDir(files, async (dir) => {
    const file = (name: string) => join(dir, name);
    await t.step(
      "gpt-live default: GPT-Live's voice is fine, the Realtime-only settings are refused",
      async () => {
        const error = await loadError(loadPersonas(dir, { defaultModel: "gpt-live-1.1" }));
        assert.deepEqual(error.problems, [
          `${file("tuned.ts")}: vad: means nothing on GPT-Live (gpt-live-1.1 from OPENAI_REALTIME_MODEL): ` +
          "the model owns turn-taking; remove it, or use a gpt-realtime model",
          `${
            file("tuned.ts")
          }: reasoning: means nothing on GPT-Live (gpt-live-1.1 from OPENAI_REALTIME_MODEL): ` +
          "GPT-Live has no reasoning setting; remove it, or use a gpt-realtime model",
        ]);
      },
    );
    await t.step(
      "gpt-realtime default: GPT-Live's voice is refused, saying what decides the engine",
      async () => {
        const error = await loadError(loadPersonas(dir, { defaultModel: "gpt-realtime-2.1" }));
        assert.equal(error.problems.length, 1);
        assert.match(
          error.problems[0]!,
          /beacon\.ts: voice: "beacon" is not a Realtime voice \(it is a GPT-Live voice; the persona names no model, so OPENAI_REALTIME_MODEL decides the engine\)/,
        );
      },
    );
    await t.step("a persona naming its model keeps its own engine", async () => {
      await Deno.writeTextFile(
        file("tuned.ts"),
        personaSource({
          voice: "marin",
          instructions: "Hi",
          model: "gpt-realtime-2.1",
          vad: { type: "server_vad" },
        }),
      );
      const personas = await loadPersonas(dir, { defaultModel: "gpt-live-1.1", version: 2 });
      assert.deepEqual([...personas.keys()], ["beacon", "tuned"]);
    });
  });
});
