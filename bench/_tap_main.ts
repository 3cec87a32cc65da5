/**
 * Parley's `main.ts` with a frame tap listening to every call (`relay_bench.ts --tap`): a listener
 * that only counts what it is given, so the bench measures what the tap itself costs the relay.
 *
 * Usage (what the bench runs for `parley-tap`): `deno run <start task flags> bench/_tap_main.ts`.
 *
 * @module
 */

import { main } from "../main.ts";
import type { CallTapListener } from "../src/relay/frame_tap.ts";

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
await main(Deno.args, { tap: () => listener });
if (heard < 0) console.log(heard); // keeps the counting from being optimised away
Deno.exit(0);
