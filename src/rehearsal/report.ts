/**
 * The rehearsal report: per scenario, the pass rate against its `minPassRate`, each failed check with
 * its reason and the call's link, turn latency p50/p95 over every run, and the cost.
 *
 * @module
 */

import { type LoadedScenario, SCENARIO_DEFAULTS } from "./types.ts";
import type { RunResult } from "./runner.ts";

/** One scenario's summary. */
export interface ScenarioSummary {
  scenario: string;
  persona: string;
  runs: number;
  passedRuns: number;
  minPassRate: number;
  /** The pass rate reached `minPassRate`. */
  passed: boolean;
  /** Turn latency percentiles over every run's turns (nearest rank), ms; null without turns. */
  latency: { p50Ms: number; p95Ms: number } | null;
  /** USD, or null when any part's price is unknown. */
  costUsd: number | null;
  /** The runs that failed, with their failed checks. */
  failures: RunResult[];
  /** Checks skipped in some run, with why (e.g. `outcome` while the persona has no analysis). */
  skipped: { name: string; reason: string }[];
}

/** The whole report. */
export interface RehearsalReport {
  scenarios: ScenarioSummary[];
  /** Every scenario reached its pass rate. */
  passed: boolean;
  costUsd: number | null;
}

/** Sums up `results` per scenario. */
export function summarize(
  scenarios: readonly LoadedScenario[],
  results: readonly RunResult[],
): RehearsalReport {
  const summaries = scenarios.map((loaded): ScenarioSummary => {
    const runs = results.filter((r) => r.scenario === loaded.id);
    const passedRuns = runs.filter((r) => r.passed).length;
    const minPassRate = loaded.scenario.minPassRate ?? SCENARIO_DEFAULTS.minPassRate;
    const latencies = runs.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
    return {
      scenario: loaded.id,
      persona: loaded.scenario.persona,
      runs: runs.length,
      passedRuns,
      minPassRate,
      // A scenario with no run (stopped early) has not passed.
      passed: runs.length > 0 && passedRuns / runs.length >= minPassRate - 1e-9,
      latency: latencies.length === 0
        ? null
        : { p50Ms: percentile(latencies, 0.5), p95Ms: percentile(latencies, 0.95) },
      costUsd: sum(runs.map((r) => r.costUsd)),
      failures: runs.filter((r) => !r.passed),
      skipped: [
        ...new Map(
          runs.flatMap((r) => r.checks).filter((c) => c.status === "skipped").map((c) => [c.name, c.reason]),
        ),
      ].map(([name, reason]) => ({ name, reason })),
    };
  });
  return {
    scenarios: summaries,
    passed: summaries.every((s) => s.passed),
    costUsd: sum(summaries.map((s) => s.costUsd)),
  };
}

/** The report as text for a terminal (one scenario a block). */
export function formatReport(report: RehearsalReport): string {
  const lines: string[] = [];
  for (const s of report.scenarios) {
    const needed = Math.ceil(s.minPassRate * s.runs - 1e-9);
    lines.push(
      `${s.passed ? "✔" : "✘"} ${s.scenario} (${s.persona}): ${s.passedRuns}/${s.runs} passed` +
        (s.passed ? "" : ` (needs ${needed}/${s.runs})`),
    );
    for (const run of s.failures) {
      lines.push(`    run ${run.run}: ${run.callUrl ?? "no call"}`);
      for (const check of run.checks.filter((c) => c.status === "failed")) {
        lines.push(`      ✘ ${check.name}: ${check.reason}`);
      }
    }
    for (const check of s.skipped) lines.push(`    – ${check.name}: ${check.reason}`);
    lines.push(
      `    turn latency ${
        s.latency === null
          ? "—"
          : `p50 ${Math.round(s.latency.p50Ms)} ms, p95 ${Math.round(s.latency.p95Ms)} ms`
      }` +
        `; cost ${formatCost(s.costUsd)}`,
    );
  }
  const passedCount = report.scenarios.filter((s) => s.passed).length;
  lines.push(
    `${passedCount} of ${report.scenarios.length} scenario(s) reached their pass rate; rehearsal cost ${
      formatCost(report.costUsd)
    }`,
  );
  return lines.join("\n");
}

/** USD with four decimals, or "unknown". */
export function formatCost(usd: number | null): string {
  return usd === null ? "unknown (a model without a price)" : `$${usd.toFixed(4)}`;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function sum(values: readonly (number | null)[]): number | null {
  return values.some((v) => v === null) ? null : values.reduce<number>((a, b) => a + b!, 0);
}
