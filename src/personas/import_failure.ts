/**
 * What the persona loader says when a persona file fails to import: the error's first line and where
 * it happened, in the persona file or in a helper module beside it (`_pitch.ts`).
 *
 * @module
 */

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * One line for an import failure: the error's first line, plus where when known: the first place in
 * the message or stack that is in the persona folder; in another file there (a `_pitch.ts` helper the
 * persona imports), that file is named, relative to the folder.
 *
 * @example
 * ```ts
 * importFailure(error, { dir: "./personas", name: "alex.ts", importRoot: undefined });
 * // "import failed: ReferenceError: CUSTOMER is not defined (in _pitch.ts, line 2, column 42)"
 * ```
 */
export function importFailure(
  error: unknown,
  where: { dir: string; name: string; importRoot: string | undefined },
): string {
  if (!(error instanceof Error)) return `import failed: ${String(error)} was thrown`;
  const { importRoot } = where;
  // Deno names the file with our cache-busting query and import root; users never wrote them.
  const rootUrl = importRoot === undefined ? undefined : pathToFileURL(importRoot).href;
  const unrooted = (text: string) =>
    rootUrl === undefined ? text : text.replaceAll(rootUrl, "file://").replaceAll(importRoot!, "");
  const clean = (text: string) => unrooted(text).replaceAll(/\?v=\d+/g, "");
  const firstLine = clean(error.message.split("\n")[0] ?? "");
  const text = /^\w*Error\b/.test(firstLine) ? firstLine : `${error.name}: ${firstLine}`;
  const at = placeInFolder(unrooted(`${error.message}\n${error.stack ?? ""}`), where.dir);
  const place = at === undefined
    ? ""
    : at.file === where.name
    ? ` (line ${at.line}, column ${at.column})`
    : ` (in ${at.file}, line ${at.line}, column ${at.column})`;
  return `import failed: ${text.replace(/\.$/, "")}${place}`;
}

/**
 * The first `file://…:<line>:<column>` in `text` that is in `dir`: the file's path relative to `dir`,
 * the line and the column. Stack traces show the URL decoded (spaces as spaces), parse errors encoded.
 */
function placeInFolder(
  text: string,
  dir: string,
): { file: string; line: string; column: string } | undefined {
  const href = pathToFileURL(resolve(dir)).href.replace(/\/$/, "");
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const folder = `(?:${escape(href)}|${escape(decodeURI(href))})`;
  const at = new RegExp(`${folder}/([^\\n"'()]+?)(?:\\?v=\\d+)?:(\\d+):(\\d+)`).exec(text);
  if (at === null) return undefined;
  let file = at[1]!;
  try {
    file = decodeURIComponent(file);
  } catch { /* shown as found */ }
  return { file, line: at[2]!, column: at[3]! };
}
