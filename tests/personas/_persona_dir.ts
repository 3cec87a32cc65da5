/**
 * Test helpers: a temporary persona folder, and a bounded wait for a callback.
 *
 * @module
 */

import "../../testing/temp_root.ts";

/** Writes `files` (name → source) into a fresh temp folder, runs `fn` with its path, then removes it. */
export async function withPersonaDir(
  files: Record<string, string>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "parley personas " });
  try {
    for (const [name, source] of Object.entries(files)) await Deno.writeTextFile(`${dir}/${name}`, source);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A persona module exporting `persona` as a plain object literal, importing nothing. */
export function personaSource(persona: Record<string, unknown>): string {
  return `export default ${JSON.stringify(persona)};\n`;
}
