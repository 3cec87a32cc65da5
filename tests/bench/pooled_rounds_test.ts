/**
 * The pooled estimate of the bench's same-run cost ratios (`bench/pooled_rounds.ts`).
 */

import assert from "node:assert/strict";
import { estimate, estimateLine, poolRounds } from "../../bench/pooled_rounds.ts";

Deno.test("pooling pairs each round's relays within that round, by call count", () => {
  const pooled = poolRounds([
    { calls: 50, cpuRounds: { parley: [115, 120], bare: [100, 100], "parley-record": [126.5, 120] } },
    { calls: 200, cpuRounds: { parley: [60], bare: [50] } },
    { calls: 50, cpuRounds: { parley: [110], bare: [100] } },
    { calls: 50 }, // a run saved without --rounds adds nothing
  ]);
  assert.deepEqual(pooled.map((p) => p.calls), [50, 200]);
  assert.deepEqual(pooled[0]!.parleyOverFloor, [1.15, 1.2, 1.1]);
  assert.deepEqual(pooled[0]!.recordingOverNot, [1.1, 1]);
  assert.deepEqual(pooled[1]!.parleyOverFloor, [1.2]);
  assert.deepEqual(pooled[1]!.recordingOverNot, []);
});

Deno.test("the estimate is the mean with Student's 95 % interval, and the median", () => {
  const e = estimate([1, 2, 3, 10]);
  assert.equal(e.n, 4);
  assert.equal(e.mean, 4);
  assert.equal(e.median, 2.5);
  // sd = sqrt(((9 + 4 + 1 + 36) / 3)) = 4.082…; t(3) = 3.182; half = 3.182 × 4.082 / 2 = 6.496
  assert.ok(Math.abs(e.high - 4 - 6.4956) < 1e-3, `high ${e.high}`);
  assert.ok(Math.abs(4 - e.low - 6.4956) < 1e-3, `low ${e.low}`);
  assert.throws(() => estimate([1.1]), /two rounds or more, got 1/);
});

Deno.test("a target is judged on the mean, with the rounds over it counted", () => {
  assert.match(
    estimateLine("x", [1.12, 1.16, 1.14], 1.15),
    /mean 1\.140 .* 3 rounds, 1 over 1\.15 · target ≤ 1\.15 ✓ met$/,
  );
  assert.match(estimateLine("x", [1.14, 1.16, 1.17], 1.15), /✗ not met$/);
  assert.equal(estimateLine("x", [1.1], 1.15), "x: fewer than two rounds");
});
