/**
 * The quiet watch under the Twilio media socket's silence watch and the upstream keepalive: a look
 * that runs late (a busy event loop) counts what came before it ran, so the quiet span it reports is
 * measured from when it ran, never from its scheduled time: it never says "quiet for so long" early.
 */

import assert from "node:assert/strict";
import { QuietWatch } from "../../src/http/quiet_watch.ts";

/** Keeps the event loop busy for `ms`, as a loaded machine does. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* busy */ }
}

Deno.test("quiet watch: after a late look that saw something, the quiet span never exceeds the true silence", async () => {
  const looks: { quiet: number; quietMs: number; at: number }[] = [];
  const three = Promise.withResolvers<void>();
  const watch = new QuietWatch(50, (quiet, quietMs) => {
    looks.push({ quiet, quietMs, at: performance.now() });
    if (quiet >= 4) three.resolve();
  });
  try {
    // The first look is due at 50 ms; the loop is busy until 90, and something comes at 70: the look
    // runs late and finds it.
    stall(70);
    watch.heard();
    const heardAt = performance.now();
    stall(20);
    await three.promise;
    assert.deepEqual(looks.map((l) => l.quiet), [1, 2, 3, 4]);
    for (const look of looks) {
      assert.ok(
        look.quietMs <= look.at - heardAt,
        `look ${look.quiet} reported ${look.quietMs.toFixed(1)} ms quiet, ${
          (look.at - heardAt).toFixed(1)
        } ms after the last message`,
      );
    }
    // And it still counts on: each quiet look reports a longer span.
    for (let i = 1; i < looks.length; i++) assert.ok(looks[i]!.quietMs > looks[i - 1]!.quietMs);
  } finally {
    watch.stop();
  }
});
