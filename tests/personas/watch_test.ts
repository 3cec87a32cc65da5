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
import { within } from "../fakes/within.ts";

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
