/**
 * Reloads the personas when files in `PERSONAS_DIR` change, so `deno task dev` picks up persona
 * edits without a restart. A broken edit keeps the personas that were working: the server goes on
 * answering calls and the problems are reported.
 *
 * @module
 */

import { basename } from "node:path";
import {
  isPersonaFileName,
  loadPersonas,
  PersonaLoadError,
  type ReloadablePersonaRegistry,
} from "./loader.ts";

/** Options for {@linkcode watchPersonas}. */
export interface WatchPersonasOptions {
  /** The registry to update; only its `replace` is used. */
  registry: Pick<ReloadablePersonaRegistry, "replace">;
  /** Called after each reload that succeeded, with the new ids, sorted. */
  onReload?(ids: string[]): void;
  /** Called when a reload fails; the registry keeps the previous personas. @default logs the message with `console.error` */
  onError?(error: PersonaLoadError): void;
  /** Quiet time after the last change before reloading; editors write a file in several steps. @default 150 */
  debounceMs?: number;
}

/** A running watch; see {@linkcode watchPersonas}. */
export interface PersonaWatcher {
  /** Stops watching. A reload already running finishes but no longer touches the registry. */
  close(): void;
}

// Shared by all watchers so two reloads of the same file never reuse a module URL.
let nextVersion = 1;

/**
 * Watches `dir` and reloads every persona when a `.ts` file in it changes.
 *
 * @example
 * ```ts
 * const registry = createPersonaRegistry(await loadPersonas(dir));
 * const watcher = watchPersonas(dir, {
 *   registry,
 *   onReload: (ids) => log.info(`Personas reloaded: ${ids.join(", ")}`),
 *   onError: (error) => log.error(error.message),
 * });
 * // on shutdown
 * watcher.close();
 * ```
 */
export function watchPersonas(dir: string, options: WatchPersonasOptions): PersonaWatcher {
  const debounceMs = options.debounceMs ?? 150;
  const onError = options.onError ?? ((error: PersonaLoadError) => console.error(error.message));
  const fsWatcher = Deno.watchFs(dir, { recursive: false });
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let reloading = false;
  let changedWhileReloading = false;

  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void reload();
    }, debounceMs);
  };

  const reload = async () => {
    if (reloading) {
      // Reload again once the running one ends, so its snapshot of the files is not the last word.
      changedWhileReloading = true;
      return;
    }
    reloading = true;
    try {
      const personas = await loadPersonas(dir, { version: nextVersion++ });
      if (closed) return;
      options.registry.replace(personas);
      options.onReload?.([...personas.keys()].sort());
    } catch (error) {
      if (closed) return;
      onError(
        error instanceof PersonaLoadError ? error : new PersonaLoadError([
          `${dir}: reload failed: ${error instanceof Error ? error.message : String(error)}`,
        ], {
          cause: error,
        }),
      );
    } finally {
      reloading = false;
      if (changedWhileReloading && !closed) {
        changedWhileReloading = false;
        schedule();
      }
    }
  };

  (async () => {
    for await (const event of fsWatcher) {
      if (event.kind === "access") continue;
      if (event.paths.some((path) => isPersonaFileName(basename(path)))) schedule();
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
      clearTimeout(timer);
      timer = undefined;
      fsWatcher.close();
    },
  };
}
