/**
 * The pooled estimate of the bench's same-run cost ratios (`bench/pooled_rounds.ts`).
 */

import assert from "node:assert/strict";
import {
  disturbedLine,
  disturbedRounds,
  estimate,
  estimateLine,
  poolRounds,
} from "../../bench/pooled_rounds.ts";

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

Deno.test("a round where one relay's CPU jumps to 1.2× its run's median is flagged, and stays in the verdict", () => {
  // The floor's third round and Parley's fourth ran while something else took the machine.
  assert.deepEqual(disturbedRounds([66, 68, 88, 67, 69]), [false, false, true, false, false]);
  assert.deepEqual(disturbedRounds([100, 100, 120]), [false, false, true], "1.2× its median, just");
  assert.deepEqual(disturbedRounds([100, 100, 119]), [false, false, false]);
  assert.deepEqual(
    disturbedRounds([100, 200]),
    [false, false],
    "two rounds have no median to stand out from",
  );
  const pooled = poolRounds([
    { calls: 200, cpuRounds: { parley: [76, 78, 90, 98, 77], bare: [66, 68, 88, 67, 69] } },
  ]);
  assert.deepEqual(pooled[0]!.parleyOverFloorDisturbed, [false, false, true, true, false]);
  const ratios = pooled[0]!.parleyOverFloor;
  // Judged on all five rounds; the flagged two are only reported, with the mean the others give.
  assert.match(estimateLine("x", ratios, 1.15), /5 rounds/);
  const line = disturbedLine(ratios, pooled[0]!.parleyOverFloorDisturbed)!;
  assert.match(
    line,
    /^ {2}2 disturbed round\(s\) .* ratio 1\.02, 1\.46, kept above; without them: mean 1\.138$/,
  );
  assert.equal(disturbedLine(ratios, ratios.map(() => false)), undefined);
});
