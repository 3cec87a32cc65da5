/**
 * Finds the persona files in `PERSONAS_DIR`, imports and validates each, and keeps the current set
 * in a registry the server reads per call.
 *
 * Every `*.ts` file in the folder is a persona whose id is the file name; test files (`*_test.ts`),
 * declaration files (`*.d.ts`) and files starting with `_` or `.` (shared helpers, editor backups)
 * are skipped. All problems of all files are gathered into one {@linkcode PersonaLoadError}.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { CallContext, LoadedPersona, PersonaRegistry } from "./types.ts";
import { type PersonaValidation, validatePersona } from "./validate.ts";
import { ENGINE_REGISTRY } from "../engines/registry.ts";
import { errorText } from "../log.ts";
import { importFailure } from "./import_failure.ts";
import { nearestExisting } from "../startup_folders.ts";

/** Options of a {@linkcode PersonaLoadError}. */
export interface PersonaLoadErrorOptions extends ErrorOptions {
  /** Ids of the persona files found in the folder, loaded or not. @default [] */
  foundIds?: string[];
}

/** Raised by {@linkcode loadPersonas}; `problems` holds one line per problem, each naming its file. */
export class PersonaLoadError extends Error {
  /** Each problem, as `<file>: <field>: <what is wrong>`. */
  readonly problems: string[];
  /** Ids of the persona files found in the folder, whether they loaded or not. */
  readonly foundIds: string[];

  /** Builds the error; its message lists every problem on its own line. */
  constructor(problems: string[], options: PersonaLoadErrorOptions = {}) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(`Cannot load personas: ${count}\n${problems.map((p) => `  - ${p}`).join("\n")}`, options);
    this.name = "PersonaLoadError";
    this.problems = problems;
    this.foundIds = options.foundIds ?? [];
  }
}

/** Options for {@linkcode loadPersonas}. */
export interface LoadPersonasOptions {
  /**
   * Cache-busting version: files are imported as `file:///…/alex.ts?v=<version>`, so a new version
   * re-imports edited files. Modules they import themselves stay cached (see `importRoot`).
   * @default no query
   */
  version?: number;
  /**
   * A folder that is a symbolic link to the file system's root `/`. Files are imported through it
   * (`file://<importRoot>/…/alex.ts`), so every module a persona imports by a relative path gets a
   * new URL too and is read afresh. Each reload needs a new link. @default import the files directly
   */
  importRoot?: string;
  /**
   * The model of a persona that names none (`OPENAI_REALTIME_MODEL`): its engine is the one such a
   * persona runs on, so it is validated against that engine's voices and settings, as calls use it.
   * @default the first engine's (Realtime)
   */
  defaultModel?: string;
}

/** A persona the configuration names (DEFAULT_PERSONA, INBOUND_PERSONA): a set without it is refused. */
export interface RequiredPersona {
  /** The variable that names it. */
  variable: string;
  /** The persona id. */
  id: string;
}

/**
 * One problem line for each required persona that is not among `ids`.
 *
 * @example
 * ```ts
 * missingPersonas(["alex"], [{ variable: "INBOUND_PERSONA", id: "receptionist" }], "./personas");
 * // ['INBOUND_PERSONA: "receptionist" names no persona in ./personas (found: alex): …']
 * ```
 */
export function missingPersonas(
  ids: readonly string[],
  required: readonly RequiredPersona[],
  dir: string,
): string[] {
  const found = ids.length === 0 ? "none" : ids.join(", ");
  return required.filter(({ id }) => !ids.includes(id)).map(({ variable, id }) =>
    `${variable}: "${id}" names no persona in ${dir} (found: ${found}): add ${id}.ts there or set ` +
    `${variable} to one of the personas found`
  );
}

/** What a persona id may contain: it appears in URLs and logs. */
const PERSONA_ID = /^[A-Za-z0-9_-]+$/;

/**
 * Whether `name` (a file name, not a path) is a persona file: `*.ts`, but not `*_test.ts`,
 * `*.test.ts`, `*.d.ts`, nor a name starting with `_` or `.`.
 *
 * @example
 * ```ts
 * isPersonaFileName("alex.ts"); // true
 * isPersonaFileName("_shared.ts"); // false
 * ```
 */
export function isPersonaFileName(name: string): boolean {
  return name.endsWith(".ts") && !name.endsWith("_test.ts") && !name.endsWith(".test.ts") &&
    !name.endsWith(".d.ts") && !name.startsWith("_") && !name.startsWith(".");
}

/**
 * Imports and validates every persona file in `dir`, keyed by id (the file name without `.ts`).
 *
 * Needs `--allow-read` for `dir`. Files are imported one after another, so a file's top-level code
 * runs once per load.
 *
 * @param dir The folder as the user gave it (`PERSONAS_DIR`); messages show paths under it.
 * @throws {PersonaLoadError} When the folder is missing or has no persona files, or any file
 * fails to import or to validate; the error lists every problem found.
 *
 * @example
 * ```ts
 * const personas = await loadPersonas("./personas");
 * personas.get("alex")?.persona.voice; // "shimmer"
 * ```
 */
export async function loadPersonas(
  dir: string,
  options: LoadPersonasOptions = {},
): Promise<Map<string, LoadedPersona>> {
  const { names, unreadable } = await personaFileNames(dir);
  const foundIds = names.map((name) => name.slice(0, -".ts".length));
  const problems: string[] = [];
  const personas = new Map<string, LoadedPersona>();
  for (const name of names) {
    const shown = join(dir, name);
    const cannotRead = unreadable.get(name);
    if (cannotRead !== undefined) {
      problems.push(`${shown}: cannot read it: ${cannotRead}`);
      continue;
    }
    const id = name.slice(0, -".ts".length);
    if (!PERSONA_ID.test(id)) {
      problems.push(
        `${shown}: file name: "${id}" is not a valid persona id; rename the file using only letters, digits, "_" and "-"`,
      );
      continue;
    }
    const file = resolve(dir, name);
    const url = pathToFileURL(options.importRoot === undefined ? file : join(options.importRoot, file));
    if (options.version !== undefined) url.searchParams.set("v", String(options.version));
    let module: Record<string, unknown>;
    try {
      module = await import(url.href);
    } catch (error) {
      // Anything can go wrong in user code at import time; each failure is that file's problem.
      problems.push(`${shown}: ${importFailure(error, { dir, name, importRoot: options.importRoot })}`);
      continue;
    }
    let result: PersonaValidation;
    try {
      result = validatePersona(module.default, shown, ENGINE_REGISTRY, options.defaultModel);
    } catch (error) {
      // A getter of the persona object may throw: still that file's problem, not the whole load's.
      const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      problems.push(`${shown}: default export: reading it threw ${why.split("\n")[0]}`);
      continue;
    }
    if (result.persona === undefined) problems.push(...result.problems);
    else personas.set(id, { id, file, persona: result.persona });
  }
  if (problems.length > 0) throw new PersonaLoadError(problems, { foundIds });
  return personas;
}

/**
 * The persona file names in `dir`, sorted, and why each of them that cannot be read cannot (a link
 * to nothing, a link loop): such a file is still a persona file, so its problem names it. Folder
 * problems become a {@linkcode PersonaLoadError}.
 */
async function personaFileNames(dir: string): Promise<{ names: string[]; unreadable: Map<string, string> }> {
  const where = `${dir}: folder`;
  const setDir = "or set PERSONAS_DIR to the folder that has them";
  const names: string[] = [];
  const unreadable = new Map<string, string>();
  try {
    const info = await Deno.stat(dir);
    if (!info.isDirectory) throw new PersonaLoadError([`${where}: not a folder; ${setDir}`]);
    for await (const entry of Deno.readDir(dir)) {
      if (!isPersonaFileName(entry.name)) continue;
      if (entry.isFile) {
        names.push(entry.name);
      } else if (entry.isSymlink) {
        // Followed here, not in the folder's try: a link to nothing is this file's problem.
        const target = await linkTarget(join(dir, entry.name));
        if (target.isFile) names.push(entry.name);
        else if (target.problem !== undefined) {
          names.push(entry.name);
          unreadable.set(entry.name, target.problem);
        }
      }
    }
  } catch (error) {
    throw folderProblem(dir, error);
  }
  if (names.length === 0) {
    throw new PersonaLoadError([
      `${where}: no persona files (*.ts) in ${resolve(dir)}; add one, e.g. alex.ts exporting ` +
      `{ voice: "marin", instructions: "…" }, ${setDir}`,
    ]);
  }
  return { names: names.sort(), unreadable };
}

/**
 * Where the link at `path` leads: a file, something else (a folder: skipped like one), or why it
 * cannot be followed, with the fix.
 */
async function linkTarget(path: string): Promise<{ isFile: boolean; problem?: string }> {
  try {
    return { isFile: (await Deno.stat(path)).isFile };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      const target = await Deno.readLink(path).catch(() => undefined);
      const to = target === undefined ? "" : ` to "${target}"`;
      return { isFile: false, problem: `it is a link${to}, which does not exist; fix the link or remove it` };
    }
    return { isFile: false, problem: `${errorText(error)}; fix the link or remove it` };
  }
}

/** The {@linkcode PersonaLoadError} for a folder `dir` that cannot be read (`error` is why). */
function folderProblem(dir: string, error: unknown): PersonaLoadError {
  if (error instanceof PersonaLoadError) return error;
  const where = `${dir}: folder`;
  const setDir = "or set PERSONAS_DIR to the folder that has them";
  const options = { cause: error };
  if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
    const notFound = `${where}: not found at ${resolve(dir)}`;
    const file = fileOnPath(dir);
    const problem = file === undefined
      ? `${notFound}; create it with a persona file ${setDir}`
      : `${notFound}: "${file}" is a file, not a folder; set PERSONAS_DIR to the folder that has the persona files`;
    return new PersonaLoadError([problem], options);
  }
  // PermissionDenied: the OS refuses. NotCapable: Deno does (a path under /dev, /proc or /sys needs
  // --allow-all, whatever --allow-read says). Anything else (a link loop) is reported the same way.
  return new PersonaLoadError([`${where}: cannot read it: ${errorText(error)}; ${setDir}`], options);
}

/** The file that stands where a folder of `dir`'s path should be (`README.md` of `README.md/personas`), if any. */
function fileOnPath(dir: string): string | undefined {
  const found = nearestExisting(resolve(dir));
  return found === undefined || "error" in found || found.isDirectory ? undefined : found.path;
}

/** A {@linkcode PersonaRegistry} whose whole set of personas can be swapped. */
export interface ReloadablePersonaRegistry extends PersonaRegistry {
  /** Makes `personas` the current set; calls that already started keep the persona they have. */
  replace(personas: ReadonlyMap<string, LoadedPersona>): void;
}

/**
 * Builds the registry the server reads; the watcher calls `replace` after each good reload.
 *
 * @example
 * ```ts
 * const registry = createPersonaRegistry(await loadPersonas("./personas"));
 * registry.get("alex")?.persona.voice;
 * ```
 */
export function createPersonaRegistry(
  initial: ReadonlyMap<string, LoadedPersona>,
): ReloadablePersonaRegistry {
  // Copied so the caller's map can change without changing what calls see.
  let personas = new Map(initial);
  let ids = [...personas.keys()].sort();
  return {
    get: (id) => personas.get(id),
    ids: () => [...ids],
    replace(next) {
      personas = new Map(next);
      ids = [...personas.keys()].sort();
    },
  };
}

/**
 * The persona's instructions for one call: the string, or what its function returns for `context`.
 *
 * @throws {Error} Naming the persona's file when the function throws or returns something other
 * than a non-empty string.
 *
 * @example
 * ```ts
 * const instructions = renderInstructions(loaded, { parameters: { lead: "Dana" }, callSid, streamSid });
 * ```
 */
export function renderInstructions(loaded: LoadedPersona, context: CallContext): string {
  const { instructions } = loaded.persona;
  if (typeof instructions === "string") return instructions;
  const where = `${loaded.file}: instructions`;
  let rendered: unknown;
  try {
    rendered = instructions(context);
  } catch (error) {
    const detail = errorText(error);
    throw new Error(`${where}: the function threw: ${detail}`, { cause: error });
  }
  if (typeof rendered !== "string") {
    const kind = rendered instanceof Promise ? "a promise" : rendered === null ? "null" : typeof rendered;
    throw new Error(`${where}: the function returned ${kind}; return a non-empty string`);
  }
  if (rendered.trim() === "") {
    throw new Error(`${where}: the function returned an empty string; return the script`);
  }
  return rendered;
}
