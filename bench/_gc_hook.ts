/**
 * The bench's garbage-collection hook, installed in every relay it measures (Parley through
 * `_gc_main.ts` and `_tap_main.ts`, the floor in `bare_relay.ts`): on SIGUSR2 it runs a full garbage
 * collection (the process runs with `--v8-flags=--expose-gc`) and prints
 * `Bench GC #n: heapUsed=… rss=… collected=…` on stdout. Reading RSS right after a full GC measures
 * what is retained, not where the collector happens to be in its cycle, and the same way in both
 * relays.
 *
 * @module
 */

/** Installs the SIGUSR2 → full GC → memory line hook (a no-op collection without `--expose-gc`). */
export function installGcHook(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  let collections = 0;
  Deno.addSignalListener("SIGUSR2", () => {
    gc?.();
    const { heapUsed, rss } = Deno.memoryUsage();
    console.log(`Bench GC #${++collections}: heapUsed=${heapUsed} rss=${rss} collected=${gc !== undefined}`);
  });
}
