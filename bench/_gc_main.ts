/**
 * Parley's `main.ts` for the soak, with one bench-only hook: SIGUSR2 runs a full garbage
 * collection (the process runs with `--v8-flags=--expose-gc`) and prints
 * `Bench GC #n: heapUsed=… rss=…` on stdout. Sampling memory right after a full GC measures what is
 * retained, not where the collector happens to be in its cycle.
 *
 * Usage (what `relay_bench.ts --soak` runs): `deno run <start task flags> --v8-flags=--expose-gc
 * bench/_gc_main.ts`.
 *
 * @module
 */

import { main } from "../main.ts";

const gc = (globalThis as { gc?: () => void }).gc;
let collections = 0;
Deno.addSignalListener("SIGUSR2", () => {
  gc?.();
  const { heapUsed, rss } = Deno.memoryUsage();
  console.log(`Bench GC #${++collections}: heapUsed=${heapUsed} rss=${rss} collected=${gc !== undefined}`);
});
await main(Deno.args);
Deno.exit(0);
