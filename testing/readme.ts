/**
 * The README as the tests that hold it to the code read it: the whole text, and one `## ` section.
 *
 * @module
 */

/** README.md's text. */
export const README: string = await Deno.readTextFile(new URL("../README.md", import.meta.url));

/** The body of the README section headed `## title`, up to the next `## `; throws when there is none. */
export function readmeSection(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  if (start === -1) throw new Error(`README has no "## ${title}" section`);
  const end = README.indexOf("\n## ", start + 1);
  return README.slice(start, end === -1 ? undefined : end);
}
