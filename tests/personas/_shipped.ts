/**
 * The persona files Parley ships, for tests that check their content, without tying the tests to
 * whatever the user has since made of `personas/`.
 *
 * `tests/testdata/shipped_personas.json` records the SHA-256 of each file as shipped. A file that
 * still matches is checked; one the user has edited (or removed) is left out, with a note, because
 * the tests must pass whatever is in `personas/`. CI sets `PARLEY_STRICT_SHIPPED_PERSONAS=1` on its
 * fresh clone, where a mismatch means the manifest was not updated with the file: that fails.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";

const PERSONAS_DIR = fileURLToPath(new URL("../../personas", import.meta.url));
const MANIFEST = new URL("../testdata/shipped_personas.json", import.meta.url);

/** The shipped files still as shipped, by file name, and the names left out because they changed. */
export interface ShippedPersonas {
  sources: Record<string, string>;
  edited: string[];
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Reads the shipped persona files that are unchanged since they shipped. */
export async function shippedPersonas(): Promise<ShippedPersonas> {
  const manifest: Record<string, string> = JSON.parse(await Deno.readTextFile(MANIFEST));
  const strict = Deno.env.get("PARLEY_STRICT_SHIPPED_PERSONAS") === "1";
  const sources: Record<string, string> = {};
  const edited: string[] = [];
  for (const [name, expected] of Object.entries(manifest)) {
    let source: string | undefined;
    try {
      source = await Deno.readTextFile(join(PERSONAS_DIR, name));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const actual = source === undefined ? "missing" : await sha256(source);
    if (source !== undefined && actual === expected) {
      sources[name] = source;
      continue;
    }
    if (strict) {
      throw new Error(
        `personas/${name} (sha256 ${actual}) is not the version recorded in tests/testdata/shipped_personas.json ` +
          `(${expected}): update the manifest in the same commit as the persona`,
      );
    }
    edited.push(name);
  }
  // A shipped file that imports a changed one (alex_live.ts builds on alex.ts) is left out with it.
  for (const [name, source] of Object.entries(sources)) {
    if (edited.some((changed) => source.includes(`"./${changed}"`))) {
      delete sources[name];
      edited.push(name);
    }
  }
  if (edited.length > 0) {
    console.log(`Not checking personas you changed: ${edited.map((n) => `personas/${n}`).join(", ")}`);
  }
  return { sources, edited };
}
