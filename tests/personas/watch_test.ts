/**
 * Tests of the persona watcher: edits are picked up without a restart, broken edits keep the
 * working personas.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createPersonaRegistry, loadPersonas, type PersonaLoadError } from "../../src/personas/loader.ts";
import { watchPersonas } from "../../src/personas/watch.ts";
import { personaSource, withPersonaDir } from "./_persona_dir.ts";
import { within } from "../../testing/within.ts";

const TIMEOUT_MS = 5000;

Deno.test("watchPersonas picks up edits and keeps the old personas when an edit is broken", async (t) => {
  await withPersonaDir({ "rep.ts": personaSource({ voice: "marin", instructions: "One" }) }, async (dir) => {
    const registry = createPersonaRegistry(await loadPersonas(dir));
    // An editor's save can take more than one reload; each step waits for the reload it expects.
    const waiters = new Set<{ done: (ids: string[]) => boolean; resolve: (ids: string[]) => void }>();
    const reloadWhere = (done: (ids: string[]) => boolean) => {
      const { promise, resolve } = Promise.withResolvers<string[]>();
      waiters.add({ done, resolve });
      return promise;
    };
    let failed = Promise.withResolvers<PersonaLoadError>();
    const watcher = watchPersonas(dir, {
      registry,
      debounceMs: 50,
      onReload(ids) {
        for (const waiter of waiters) {
          if (waiter.done(ids)) {
            waiters.delete(waiter);
            waiter.resolve(ids);
          }
        }
      },
      onError: (error) => failed.resolve(error),
    });
    const voiceOf = (id: string) => registry.get(id)?.persona.voice;
    try {
      await t.step("an edited persona replaces the old one", async () => {
        const reloaded = reloadWhere(() => voiceOf("rep") === "cedar");
        await Deno.writeTextFile(join(dir, "rep.ts"), personaSource({ voice: "cedar", instructions: "Two" }));
        assert.deepEqual(await within(reloaded, "the reload after an edit", TIMEOUT_MS), ["rep"]);
      });

      await t.step("a new persona file is added", async () => {
        const reloaded = reloadWhere((ids) => ids.includes("front_desk"));
        await Deno.writeTextFile(
          join(dir, "front_desk.ts"),
          personaSource({ voice: "ash", instructions: "Hi" }),
        );
        assert.deepEqual(await within(reloaded, "the reload after a new file", TIMEOUT_MS), [
          "front_desk",
          "rep",
        ]);
        assert.deepEqual(registry.ids(), ["front_desk", "rep"]);
      });

      await t.step("a broken edit keeps the old registry and reports through onError", async () => {
        await Deno.writeTextFile(
          join(dir, "rep.ts"),
          personaSource({ voice: "nova", instructions: "Three" }),
        );
        const error = await within(failed.promise, "the failed reload", TIMEOUT_MS);
        assert.deepEqual(error.problems, [
          `${join(dir, "rep.ts")}: voice: "nova" is a text-to-speech voice the Realtime API does not have; ` +
          "use one of alloy, ash, ballad, coral, echo, sage, shimmer, verse, marin, cedar",
        ]);
        assert.equal(voiceOf("rep"), "cedar");
        assert.deepEqual(registry.ids(), ["front_desk", "rep"]);
      });

      await t.step("fixing the file reloads again", async () => {
        failed = Promise.withResolvers();
        const reloaded = reloadWhere(() => voiceOf("rep") === "verse");
        await Deno.writeTextFile(
          join(dir, "rep.ts"),
          personaSource({ voice: "verse", instructions: "Four" }),
        );
        await within(reloaded, "the reload after the fix", TIMEOUT_MS);
      });
    } finally {
      watcher.close();
    }
  });
});

Deno.test("watchPersonas closes cleanly with a reload pending", async () => {
  await withPersonaDir({ "rep.ts": personaSource({ voice: "marin", instructions: "One" }) }, async (dir) => {
    const registry = createPersonaRegistry(await loadPersonas(dir));
    let reloads = 0;
    const watcher = watchPersonas(dir, { registry, debounceMs: 60_000, onReload: () => reloads++ });
    // A second watcher tells when the change has been seen, so the reload timer is likely running.
    const seen = Deno.watchFs(dir);
    try {
      await Deno.writeTextFile(join(dir, "rep.ts"), personaSource({ voice: "sage", instructions: "Two" }));
      await within(
        (async () => {
          for await (const event of seen) if (event.kind !== "access") return;
        })(),
        "the change event",
        TIMEOUT_MS,
      );
    } finally {
      seen.close();
    }
    watcher.close();
    watcher.close();
    assert.equal(reloads, 0);
    assert.equal(registry.get("rep")?.persona.voice, "marin");
  });
});

/** Starts a watcher on `dir` whose reloads, failures and no-op changes can be awaited one by one. */
function watchForTest(dir: string, required: { variable: string; id: string }[] = []) {
  const registry = createPersonaRegistry(new Map());
  let reloaded = Promise.withResolvers<string[]>();
  let failed = Promise.withResolvers<PersonaLoadError>();
  let unchanged = Promise.withResolvers<void>();
  const counts = { reloads: 0, warnings: [] as string[] };
  const watcher = watchPersonas(dir, {
    registry,
    required,
    debounceMs: 50,
    onReload(ids) {
      counts.reloads++;
      reloaded.resolve(ids);
    },
    onError: (error) => failed.resolve(error),
    onWarning: (message) => counts.warnings.push(message),
    onUnchanged: () => unchanged.resolve(),
  });
  return {
    registry,
    watcher,
    counts,
    next: {
      reload: () => within((reloaded = Promise.withResolvers()).promise, "a reload", TIMEOUT_MS),
      failure: () => within((failed = Promise.withResolvers()).promise, "a refused reload", TIMEOUT_MS),
      unchanged: () => within((unchanged = Promise.withResolvers()).promise, "a no-op change", TIMEOUT_MS),
    },
  };
}

Deno.test("watchPersonas reloads a helper module the personas import", async () => {
  const persona =
    'import { LINE } from "./_pitch.ts";\nexport default { voice: "marin", instructions: LINE };\n';
  await withPersonaDir(
    { "rep.ts": persona, "_pitch.ts": 'export const LINE = "Old pitch";\n' },
    async (dir) => {
      const w = watchForTest(dir);
      try {
        const reload = w.next.reload();
        await Deno.writeTextFile(join(dir, "_pitch.ts"), 'export const LINE = "New pitch";\n');
        assert.deepEqual(await reload, ["rep"]);
        assert.equal(w.registry.get("rep")?.persona.instructions, "New pitch");
        assert.deepEqual(w.counts.warnings, []);

        const again = w.next.reload();
        await Deno.writeTextFile(join(dir, "_pitch.ts"), 'export const LINE = "Third pitch";\n');
        await again;
        assert.equal(w.registry.get("rep")?.persona.instructions, "Third pitch");
      } finally {
        w.watcher.close();
      }
    },
  );
});

Deno.test("watchPersonas refuses a reload that removes a persona the configuration names", async () => {
  const files = {
    "alex.ts": personaSource({ voice: "marin", instructions: "Sell" }),
    "desk.ts": personaSource({ voice: "ash", instructions: "Answer" }),
  };
  await withPersonaDir(files, async (dir) => {
    const w = watchForTest(dir, [{ variable: "DEFAULT_PERSONA", id: "alex" }]);
    try {
      const first = w.next.reload();
      await Deno.writeTextFile(join(dir, "desk.ts"), personaSource({ voice: "sage", instructions: "Hi" }));
      await first;
      const refused = w.next.failure();
      await Deno.remove(join(dir, "alex.ts"));
      const error = await refused;
      assert.deepEqual(error.problems, [
        `DEFAULT_PERSONA: "alex" names no persona in ${dir} (found: desk): add alex.ts there or set ` +
        "DEFAULT_PERSONA to one of the personas found (the reload was refused)",
      ]);
      assert.deepEqual(w.registry.ids(), ["alex", "desk"], "the previous set stays");
      assert.equal(w.counts.reloads, 1);
    } finally {
      w.watcher.close();
    }
  });
});

Deno.test("watchPersonas does not reload when a save leaves the files as they were", async () => {
  const source = personaSource({ voice: "marin", instructions: "Same" });
  await withPersonaDir({ "rep.ts": source }, async (dir) => {
    const w = watchForTest(dir);
    try {
      const unchanged = w.next.unchanged();
      await Deno.writeTextFile(join(dir, "rep.ts"), source);
      await unchanged;
      assert.equal(w.counts.reloads, 0, "no reload and no 'Personas reloaded' line");
    } finally {
      w.watcher.close();
    }
  });
});

Deno.test("watchPersonas reloads as startup loads: OPENAI_REALTIME_MODEL's engine, a dangling link named", async () => {
  await withPersonaDir({ "rep.ts": personaSource({ voice: "beacon", instructions: "One" }) }, async (dir) => {
    const registry = createPersonaRegistry(await loadPersonas(dir, { defaultModel: "gpt-live-1.1" }));
    let reloaded = Promise.withResolvers<string[]>();
    let failed = Promise.withResolvers<PersonaLoadError>();
    const watcher = watchPersonas(dir, {
      registry,
      defaultModel: "gpt-live-1.1",
      debounceMs: 50,
      onReload: (ids) => reloaded.resolve(ids),
      onError: (error) => failed.resolve(error),
    });
    try {
      // GPT-Live's voice stays fine on reload; a Realtime-only setting is refused, as at startup.
      await Deno.writeTextFile(join(dir, "rep.ts"), personaSource({ voice: "bossa", instructions: "Two" }));
      assert.deepEqual(await within(reloaded.promise, "the reload", TIMEOUT_MS), ["rep"]);
      await Deno.writeTextFile(
        join(dir, "rep.ts"),
        personaSource({ voice: "bossa", instructions: "Three", vad: { type: "server_vad" } }),
      );
      const refused = await within(failed.promise, "the refused reload", TIMEOUT_MS);
      assert.deepEqual(refused.problems, [
        `${join(dir, "rep.ts")}: vad: means nothing on GPT-Live (gpt-live-1.1 from OPENAI_REALTIME_MODEL): ` +
        "the model owns turn-taking; remove it, or use a gpt-realtime model",
      ]);

      failed = Promise.withResolvers();
      reloaded = Promise.withResolvers();
      await Deno.writeTextFile(join(dir, "rep.ts"), personaSource({ voice: "bossa", instructions: "Four" }));
      await within(reloaded.promise, "the reload after the fix", TIMEOUT_MS);
      await Deno.symlink(join(dir, "missing.ts"), join(dir, "old.ts"));
      const dangling = await within(failed.promise, "the reload with a dangling link", TIMEOUT_MS);
      assert.deepEqual(dangling.problems, [
        `${join(dir, "old.ts")}: cannot read it: it is a link to "${
          join(dir, "missing.ts")
        }", which does not ` +
        "exist; fix the link or remove it",
      ]);
      assert.equal(registry.get("rep")?.persona.instructions, "Four", "the personas loaded before stay");
    } finally {
      watcher.close();
    }
  });
});
