/**
 * `deno check` of generated TypeScript, with the repository's deno.json (its npm types, such as
 * `openai@7.57.0`): the tests that hold what Parley sends to the SDK's types write the requests as
 * literals into a module and check it here.
 *
 * Each module is written to {@linkcode CHECKED_DIR}, named by a hash of its text. Deno keeps a module
 * that passed its type check in its cache by path and content, so the same module checked again costs
 * no second run of the type checker; any change to the text is a new path, and a change to the SDK or
 * deno.json misses the cache too. A check that fails is never cached: {@linkcode typeCheck} takes
 * several modules in one run of the type checker (about a core-second each on its own), and tells
 * each module's errors apart by the path they name.
 *
 * @module
 */

import "./temp_root.ts"; // first: CHECKED_DIR below reads TMPDIR

const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** Where the checked modules are written: a folder kept between runs. */
const CHECKED_DIR = `${Deno.env.get("TMPDIR") ?? "/tmp"}/parley_sdk_types`;
/** A checked module not written again for this long is removed, ms (a week). */
const CHECKED_KEPT_MS = 7 * 24 * 3600_000;

/** What the type checker said of one module. */
export interface TypeCheckResult {
  /** True when no error names this module (and the run did not fail before checking). */
  ok: boolean;
  /** The errors naming this module (`TS… [ERROR]: … at file:///…:line:col`), or the whole output when the run failed with none. */
  output: string;
}

/**
 * Type-checks `sources`, each as a module of its own, in one `deno check` run; one result per source,
 * in order.
 *
 * @example
 * ```ts
 * const [good, wrong] = await typeCheck([goodSource, wrongSource]);
 * ```
 */
export async function typeCheck(sources: readonly string[]): Promise<TypeCheckResult[]> {
  const files = [];
  for (const source of sources) files.push(await checkedModule(source));
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", "--frozen", "--config", CONFIG, ...files],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  if (success) return files.map(() => ({ ok: true, output }));
  // Each diagnostic is a block ending in the place it names: `    at file:///…/<hash>.ts:3:7`.
  const blocks = output.split(/\n\s*\n/);
  const named = files.map((file) => blocks.filter((block) => block.includes(`file://${file}:`)));
  // Failed with no diagnostic naming any module (a missing import, a broken config): all failed.
  if (named.every((mine) => mine.length === 0)) return files.map(() => ({ ok: false, output }));
  return named.map((mine) => ({ ok: mine.length === 0, output: mine.join("\n\n") }));
}

/** The path `source` is checked from: `CHECKED_DIR/<sha-256 of source>.ts`, written once. */
async function checkedModule(source: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(source));
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const file = `${CHECKED_DIR}/${hex}.ts`;
  await Deno.mkdir(CHECKED_DIR, { recursive: true });
  // Written beside it, then renamed: a run beside this one never reads a half-written module.
  const partial = await Deno.makeTempFile({ dir: CHECKED_DIR, prefix: "partial_", suffix: ".ts" });
  await Deno.writeTextFile(partial, source);
  await Deno.rename(partial, file);
  await pruneChecked();
  return file;
}

/** Removes the modules of `CHECKED_DIR` not written for {@linkcode CHECKED_KEPT_MS}. */
async function pruneChecked(): Promise<void> {
  for await (const entry of Deno.readDir(CHECKED_DIR)) {
    const path = `${CHECKED_DIR}/${entry.name}`;
    const written = (await Deno.stat(path).catch(() => undefined))?.mtime?.getTime();
    if (written !== undefined && Date.now() - written > CHECKED_KEPT_MS) {
      await Deno.remove(path).catch(() => {}); // a run beside this one may have removed it
    }
  }
}

/** {@linkcode typeCheck} of one module. */
export async function typeCheckModule(source: string): Promise<TypeCheckResult> {
  return (await typeCheck([source]))[0]!;
}
