/**
 * Parley's `main.ts` with one bench-only hook (`_gc_hook.ts`): SIGUSR2 runs a full garbage
 * collection (the process runs with `--v8-flags=--expose-gc`) and prints
 * `Bench GC #n: heapUsed=… rss=…` on stdout. The bench samples memory right after such a GC, in
 * Parley and in the floor alike.
 *
 * Usage (what `relay_bench.ts` runs for `parley`, `parley-live` and `parley-record`):
 * `deno run <start task flags> --v8-flags=--expose-gc bench/_gc_main.ts`.
 *
 * @module
 */

import { main } from "../main.ts";
import { installGcHook } from "./_gc_hook.ts";

installGcHook();
await main(Deno.args);
Deno.exit(0);
