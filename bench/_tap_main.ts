/**
 * Parley's `main.ts` with a frame tap listening to every call (`relay_bench.ts --tap`): a listener
 * that only counts what it is given, so the bench measures what the tap itself costs the relay.
 *
 * Like `_gc_main.ts`, it answers SIGUSR2 with a full GC and a memory line (`_gc_hook.ts`).
 *
 * Usage (what the bench runs for `parley-tap`): `deno run <start task flags> --v8-flags=--expose-gc
 * bench/_tap_main.ts`.
 *
 * @module
 */

import { main } from "../main.ts";
import type { CallTapListener } from "../src/relay/frame_tap.ts";
import { installGcHook } from "./_gc_hook.ts";

let heard = 0;
const listener: CallTapListener = {
  callerFrame(_at, payload) {
    heard += payload.length;
  },
  agentAudio(_playAt, _itemId, _itemMs, payload) {
    heard += payload.length;
  },
  agentCut(_at, items) {
    heard += items.length;
  },
};
installGcHook();
await main(Deno.args, { tap: () => listener });
if (heard < 0) console.log(heard); // keeps the counting from being optimised away
Deno.exit(0);
