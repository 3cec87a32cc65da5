/**
 * The bench's closing line: a smoke run that passes never prints a failed verdict.
 */

import assert from "node:assert/strict";
import type { TargetChecks } from "../../bench/_mode_load.ts";
import { targetSummary } from "../../bench/_report.ts";
import { parseOptions } from "../../bench/_options.ts";

// A loaded CI machine: latency, CPU and greeting targets missed, no frame lost.
const missed: TargetChecks = {
  latencyP99: false,
  cpuRatio: false,
  startToGreeting: false,
  rssPerCall: undefined,
  noFramesLost: true,
};

Deno.test("bench --smoke says latency targets are not judged instead of '✗ not met'", () => {
  const line = targetSummary(missed, 5, "smoke");
  assert.match(line, /^smoke: latency targets not judged/);
  assert.doesNotMatch(line, /not met/);
  assert.match(line, /0 frames lost ✓ met$/);
  assert.match(targetSummary({ ...missed, noFramesLost: false }, 5, "smoke"), /0 frames lost ✗ not met$/);
});

Deno.test("a full bench run still judges every target", () => {
  const line = targetSummary(missed, 50, "default");
  assert.match(line, /^Targets at 50 calls: latency p99 ≤ 1 ms ✗ not met · CPU ≤ 1\.3× bare ✗ not met/);
});

Deno.test("bench --tap runs Parley with a tap listening right after Parley, in the same run", () => {
  assert.deepEqual(parseOptions(["--smoke", "--tap"]).relays, [
    "parley",
    "parley-tap",
    "parley-live",
    "bare",
  ]);
  assert.deepEqual(parseOptions(["--tap", "--relay=bare,parley"]).relays, ["bare", "parley", "parley-tap"]);
  assert.deepEqual(
    parseOptions(["--smoke"]).relays,
    ["parley", "parley-live", "bare"],
    "no tap unless asked",
  );
});
