/**
 * Reloads the personas when files in `PERSONAS_DIR` change, so `deno task dev` picks up persona
 * edits without a restart. A broken edit keeps the personas that were working: the server goes on
 * answering calls and the problems are reported. So does an edit that would leave a persona the
 * configuration names (DEFAULT_PERSONA, INBOUND_PERSONA when set) missing.
 *
 * Helper modules the personas import (`_pitch.ts`) are reloaded too: each reload imports the
 * folder through a fresh symbolic link to `/`, so every relative import gets a new URL. Where the
 * link cannot be made, the reload says which modules kept their old code and why.
 *
 * Deno's `--watch` watches every module a script imports, these links' paths included, and restarts
 * the whole server when one is moved or deleted (its `--watch-exclude` matches the folder the paths
 * start with, not where the link leads). So under `deno task dev` the links go in `linksDir`, a
 * folder the task excludes ({@linkcode DEV_LINKS_DIR}), and moving a persona file another one imports
 * is a failed reload that keeps the personas loaded before, not a restart.
 *
 * @module
 */

import { basename, join } from "node:path";
import {
  loadPersonas,
  missingPersonas,
  PersonaLoadError,
  type ReloadablePersonaRegistry,
  type RequiredPersona,
} from "./loader.ts";
import { errorText } from "../log.ts";

/** Options for {@linkcode watchPersonas}. */
export interface WatchPersonasOptions {
  /** The registry to update; only its `replace` is used. */
  registry: Pick<ReloadablePersonaRegistry, "replace">;
  /**
   * The model of personas that name none (`OPENAI_REALTIME_MODEL`), as at startup: see
   * `LoadPersonasOptions.defaultModel`. @default the first engine's
   */
  defaultModel?: string;
  /** Personas a reload must keep; a reload without one of them is refused. @default [] */
  required?: readonly RequiredPersona[];
  /** Called after each reload that succeeded, with the new ids, sorted. */
  onReload?(ids: string[]): void;
  /** Called when a reload fails; the registry keeps the previous personas. @default logs the message with `console.error` */
  onError?(error: PersonaLoadError): void;
  /**
   * Called when helper modules could not be reloaded (their old code stays in use), with the
   * reason. @default logs it with `console.warn`
   */
  onWarning?(message: string): void;
  /** Called when files changed on disk but their contents are the same as at the last reload. */
  onUnchanged?(): void;
  /** Quiet time after the last change before reloading; editors write a file in several steps. @default 150 */
  debounceMs?: number;
  /**
   * Folder for the per-reload links (created if missing; each watcher makes its own subfolder and
   * removes it on close). @default the system's temporary folder
   */
  linksDir?: string;
}

/**
 * Where `deno task dev` keeps the per-reload links, relative to the project: under `data/`, which
 * the task's `--watch-exclude`, git and `deno fmt`/`lint`/`check` all leave alone.
 */
export const DEV_LINKS_DIR = "data/.persona-links";

/** A running watch; see {@linkcode watchPersonas}. */
export interface PersonaWatcher {
  /** Stops watching. A reload already running finishes but no longer touches the registry. */
  close(): void;
}

// Shared by all watchers so two reloads of the same file never reuse a module URL.
let nextVersion = 1;

/**
 * Whether a change to `name` can change a persona: any file but editor leftovers (`.swp`, `~`).
 * Helpers (`_pitch.ts`) and data files a persona imports count too.
 */
function mayAffectPersonas(name: string): boolean {
  return !name.startsWith(".") && !name.endsWith("~") && !name.endsWith(".swp");
}

/**
 * Watches `dir` and reloads every persona when a file in it changes.
 *
 * @example
 * ```ts
 * const registry = createPersonaRegistry(await loadPersonas(dir));
 * const watcher = watchPersonas(dir, {
 *   registry,
 *   required: [{ variable: "DEFAULT_PERSONA", id: "alex" }],
 *   onReload: (ids) => log.info(`Personas reloaded: ${ids.join(", ")}`),
 *   onError: (error) => log.error(error.message),
 * });
 * // on shutdown
 * watcher.close();
 * ```
 */
export function watchPersonas(dir: string, options: WatchPersonasOptions): PersonaWatcher {
  const onError = options.onError ?? ((error: PersonaLoadError) => console.error(error.message));
  const onWarning = options.onWarning ?? ((message: string) => console.warn(message));
  const fsWatcher = Deno.watchFs(dir, { recursive: false });
  const roots = createImportRoots(options.linksDir);
  let closed = false;
  // What the folder held at the last reload: the same bytes again (an editor's second write, a
  // touch) do not reload or print anything.
  let lastFingerprint = folderFingerprint(dir);

  const reload = async () => {
    try {
      const fingerprint = folderFingerprint(dir);
      if (fingerprint !== undefined && fingerprint === lastFingerprint) {
        options.onUnchanged?.();
        return;
      }
      lastFingerprint = fingerprint;
      const personas = await loadFreshSet(dir, roots, options, onWarning, () => closed);
      if (personas === undefined) return;
      options.registry.replace(personas);
      options.onReload?.([...personas.keys()].sort());
    } catch (error) {
      if (!closed) onError(asLoadError(dir, error));
    }
  };
  const reloads = debouncedOneAtATime(reload, options.debounceMs ?? 150);

  (async () => {
    for await (const event of fsWatcher) {
      if (event.kind === "access") continue;
      if (event.paths.some((path) => mayAffectPersonas(basename(path)))) reloads.schedule();
    }
  })().catch((error: unknown) => {
    // The loop ends quietly on close(); anything else means changes will not be seen any more.
    if (!closed) {
      onError(new PersonaLoadError([`${dir}: stopped watching: ${String(error)}`], { cause: error }));
    }
  });

  return {
    close() {
      if (closed) return;
      closed = true;
      reloads.close();
      fsWatcher.close();
      roots.close();
    },
  };
}

/**
 * Runs `run` once `debounceMs` passed without another `schedule()`, never two at once: scheduled
 * while one runs, it runs again once that one ends, so the running one's snapshot of the files is
 * not the last word. `close()` cancels what is pending (a run under way finishes).
 */
function debouncedOneAtATime(
  run: () => Promise<void>,
  debounceMs: number,
): { schedule(): void; close(): void } {
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let changedWhileRunning = false;

  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void runOnce();
    }, debounceMs);
  };
  const runOnce = async () => {
    if (running) {
      changedWhileRunning = true;
      return;
    }
    running = true;
    try {
      await run();
    } finally {
      running = false;
      if (changedWhileRunning && !closed) {
        changedWhileRunning = false;
        schedule();
      }
    }
  };
  return {
    schedule,
    close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

/**
 * Loads the folder afresh, under a new import root so changed helper modules are imported again, and
 * refuses a set without a required persona (throws). Undefined when the watcher closed meanwhile.
 */
async function loadFreshSet(
  dir: string,
  roots: ReturnType<typeof createImportRoots>,
  options: Pick<WatchPersonasOptions, "required" | "defaultModel">,
  onWarning: (message: string) => void,
  isClosed: () => boolean,
): Promise<Awaited<ReturnType<typeof loadPersonas>> | undefined> {
  const root = await roots.next();
  if (isClosed()) return undefined;
  if (typeof root !== "string") onWarning(root.warning);
  const personas = await loadPersonas(dir, {
    version: nextVersion++,
    ...(typeof root === "string" ? { importRoot: root } : {}),
    ...(options.defaultModel === undefined ? {} : { defaultModel: options.defaultModel }),
  });
  if (isClosed()) return undefined;
  const missing = missingPersonas([...personas.keys()], options.required ?? [], dir);
  if (missing.length > 0) {
    throw new PersonaLoadError(missing.map((line) => `${line} (the reload was refused)`));
  }
  return personas;
}

/** A failed reload as a {@linkcode PersonaLoadError} naming the folder (one already is one). */
function asLoadError(dir: string, error: unknown): PersonaLoadError {
  if (error instanceof PersonaLoadError) return error;
  const text = errorText(error);
  return new PersonaLoadError([`${dir}: reload failed: ${text}`], { cause: error });
}

/** Hands out a new symbolic link to `/` per reload (see the module doc); removes them on close. */
function createImportRoots(linksDir: string | undefined) {
  let folder: string | undefined;
  let count = 0;
  const links: string[] = [];
  return {
    async next(): Promise<string | { warning: string }> {
      try {
        if (folder === undefined && linksDir !== undefined) await Deno.mkdir(linksDir, { recursive: true });
        folder ??= await Deno.makeTempDir({
          prefix: "parley-personas-",
          ...(linksDir === undefined ? {} : { dir: linksDir }),
        });
        const link = join(folder, `v${++count}`);
        await Deno.symlink("/", link);
        links.push(link);
        return link;
      } catch (error) {
        const why = errorText(error);
        return {
          warning: `Personas: modules the persona files import (such as _*.ts helpers) keep their old code ` +
            `until you restart: cannot make the link that reloads them: ${why}`,
        };
      }
    },
    close() {
      // Each link is removed itself (never followed), then the empty folder.
      for (const link of links.splice(0)) {
        try {
          Deno.removeSync(link);
        } catch { /* already gone */ }
      }
      if (folder !== undefined) {
        try {
          Deno.removeSync(folder);
        } catch { /* already gone */ }
      }
    },
  };
}

/** Every file's name and text in `dir`, or undefined when it cannot be read. Persona folders are small. */
function folderFingerprint(dir: string): string | undefined {
  try {
    const entries: string[] = [];
    for (const entry of Deno.readDirSync(dir)) {
      if (!mayAffectPersonas(entry.name) || entry.isDirectory) continue;
      entries.push(`${entry.name}\u0000${Deno.readTextFileSync(join(dir, entry.name))}`);
    }
    return entries.sort().join("\u0000\u0000");
  } catch {
    return undefined; // the loader reports what is wrong with the folder
  }
}
