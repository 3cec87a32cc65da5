/**
 * The shape of the house: no two folders of `src/` import each other, directly or around a loop.
 *
 * A folder is a top-level folder of `src/` (its subfolders included: `engines/live/` is part of
 * `engines`); a file directly in `src/` (config.ts, log.ts…) is a node of its own. The test reads the
 * `import`/`export … from` statements (type-only ones too: they tie the folders as much as the others).
 */

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(new URL("../src", import.meta.url).pathname);

/** The node a source file belongs to: its top-level folder under `src/`, or itself at the top. */
function nodeOf(file: string): string {
  const parts = relative(SRC, file).split("/");
  return parts.length === 1 ? parts[0]! : `${parts[0]}/`;
}

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* sourceFiles(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** Relative specifiers of the static imports and re-exports in `text`. */
export function importedSpecifiers(text: string): string[] {
  const found: string[] = [];
  const pattern = /^\s*(?:import|export)\b[^;'"]*?(?:\bfrom\s*)?["'](\.{1,2}\/[^"']+)["']/gm;
  for (const match of text.matchAll(pattern)) found.push(match[1]!);
  return found;
}

/** Folder-level edges: `from -> to`, each with one file pair that draws it. */
async function folderEdges(): Promise<Map<string, Map<string, string>>> {
  const edges = new Map<string, Map<string, string>>();
  for await (const file of sourceFiles(SRC)) {
    const text = await Deno.readTextFile(file);
    for (const specifier of importedSpecifiers(text)) {
      const target = resolve(dirname(file), specifier);
      if (!target.startsWith(SRC + "/")) continue;
      const from = nodeOf(file);
      const to = nodeOf(target);
      if (from === to) continue;
      let out = edges.get(from);
      if (out === undefined) edges.set(from, out = new Map());
      if (!out.has(to)) out.set(to, `${relative(SRC, file)} -> ${relative(SRC, target)}`);
    }
  }
  return edges;
}

/** Every loop of folders, each once, as the path that closes it with the imports that draw it. */
function cycles(edges: Map<string, Map<string, string>>): string[] {
  const found = new Set<string>();
  const report: string[] = [];
  const walk = (start: string, at: string, path: string[], seen: Set<string>) => {
    for (const next of edges.get(at)?.keys() ?? []) {
      if (next === start) {
        const loop = [...path, start];
        const key = loop.slice(0, -1).sort().join(" ");
        if (found.has(key)) continue;
        found.add(key);
        const steps = loop.slice(0, -1).map((node, i) =>
          `${node} -> ${loop[i + 1]} (${edges.get(node)!.get(loop[i + 1]!)})`
        );
        report.push(steps.join("; "));
      } else if (!seen.has(next) && next > start) {
        seen.add(next);
        walk(start, next, [...path, next], seen);
        seen.delete(next);
      }
    }
  };
  for (const start of [...edges.keys()].sort()) walk(start, start, [start], new Set([start]));
  return report;
}

Deno.test("the import reader sees imports, type imports and re-exports, not strings or comments", () => {
  const text = [
    'import { a } from "./a.ts";',
    'import type { B } from "../b/b.ts";',
    'export { c } from "./c.ts";',
    "export type { D } from '../d.ts';",
    "import {",
    "  e,",
    '} from "./e.ts";',
    'import "./side_effect.ts";',
    "const s = \"import { x } from './not.ts'\";",
    '// import { y } from "./comment.ts";',
    'import { z } from "npm:zod";',
  ].join("\n");
  assert.deepEqual(importedSpecifiers(text), [
    "./a.ts",
    "../b/b.ts",
    "./c.ts",
    "../d.ts",
    "./e.ts",
    "./side_effect.ts",
  ]);
});

Deno.test("the cycle finder reports a loop of three folders once, with the imports that draw it", () => {
  const edges = new Map([
    ["a/", new Map([["b/", "a/1.ts -> b/1.ts"]])],
    ["b/", new Map([["c/", "b/1.ts -> c/1.ts"]])],
    ["c/", new Map([["a/", "c/1.ts -> a/2.ts"], ["d/", "c/1.ts -> d/1.ts"]])],
  ]);
  assert.deepEqual(cycles(edges), [
    "a/ -> b/ (a/1.ts -> b/1.ts); b/ -> c/ (b/1.ts -> c/1.ts); c/ -> a/ (c/1.ts -> a/2.ts)",
  ]);
});

Deno.test("no folder of src/ imports another that imports it back, directly or around a loop", async () => {
  const edges = await folderEdges();
  assert.ok((edges.get("relay/")?.size ?? 0) > 0, "the reader found the relay's imports");
  assert.deepEqual(cycles(edges), []);
});
