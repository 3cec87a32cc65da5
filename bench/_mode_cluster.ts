/**
 * `deno task bench --cluster=N` (issue 19): N Parley instances on one Postgres behind a round-robin
 * proxy, beside the floor (the bare relay) and one Parley on SQLite, in one run. Per call count the
 * order is floor → Parley alone → the cluster → Parley alone again: the two single-instance runs
 * bracket the cluster, and how far apart they land is the run's noise. The verdict: Postgres is not
 * on the audio path when the cluster's relay p99 (each direction) is no further above the
 * single-instance runs than that noise (never less than {@linkcode NOISE_FLOOR_MS}). The figures:
 * CPU per call-minute (every instance's CPU summed; Postgres and the proxy shown apart), the relay's
 * added latency p50/p99 each way, and the voice webhook's latency p50/p99 (probe calls under the
 * load, through the proxy). Without Postgres installed it says so and measures nothing.
 *
 * @module
 */

import type { Summary } from "../testing/frames.ts";
import {
  CLUSTER_PRIMING_CALLS_PER_INSTANCE,
  clusterOnPostgres,
  postgresMissing,
  singleBehindProxy,
} from "./_cluster.ts";
import { failedRun, ratio } from "./_mode_load.ts";
import type { BenchOptions } from "./_options.ts";
import { measure, type RelayFigures } from "./_relays.ts";
import { duo, f1, f2 } from "./_report.ts";

/** Below this gap, ms, two p99s are the same on any machine (the load's 1 ms scheduler tick). */
export const NOISE_FLOOR_MS = 0.25;

/** One call count: each column measured, and the verdict. */
export interface ClusterRun {
  calls: number;
  columns: { title: string; figures: RelayFigures }[];
  verdict: ClusterVerdict | undefined;
}

/** Is the cluster's relay p99 within the noise of the single-instance runs? Per direction. */
export interface ClusterVerdict {
  up: P99Check;
  down: P99Check;
}

/** One direction's p99: the cluster's, the single-instance runs', the noise allowed, the verdict. */
export interface P99Check {
  cluster: number;
  alone: number[];
  noise: number;
  withinNoise: boolean;
}

/**
 * Judges one direction: the cluster's p99 may exceed the higher single-instance p99 by the gap
 * between the two single-instance runs, or by {@linkcode NOISE_FLOOR_MS}, whichever is larger.
 */
export function judgeP99(cluster: number, alone: number[]): P99Check {
  const noise = Math.max(NOISE_FLOOR_MS, Math.max(...alone) - Math.min(...alone));
  return { cluster, alone, noise, withinNoise: cluster <= Math.max(...alone) + noise };
}

/** The verdict line. */
export function verdictLine(verdict: ClusterVerdict, size: number): string {
  const side = (name: string, c: P99Check) =>
    `${name} p99 ${f2(c.cluster)} ms vs ${c.alone.map(f2).join(" / ")} ms alone (noise ${f2(c.noise)} ms) ${
      c.withinNoise ? "✓" : "✗"
    }`;
  const ok = verdict.up.withinNoise && verdict.down.withinNoise;
  return `Relay p99 of ${size} instances on Postgres within noise of a single instance: ${
    ok ? "✓ yes" : "✗ no"
  } — ${side("caller→OpenAI", verdict.up)} · ${side("OpenAI→caller", verdict.down)}`;
}

/** The table of one call count, as rows of cells (title row first). */
export function clusterTable(run: ClusterRun, options: BenchOptions): string[][] {
  const floor = run.columns[0]?.figures;
  const cell = (show: (x: RelayFigures) => string) => run.columns.map(({ figures }) => show(figures));
  const besideCpu = (name: string) => (x: RelayFigures) => {
    const percent = x.beside?.[name]?.cpuPercent;
    return percent === undefined ? "—" : `${f1(percent)} % core`;
  };
  // No probe calls (a large --probe-every): nothing measured, not zeros.
  const summary = (s: Summary) => s.count === 0 ? "—" : duo(s);
  const webhook = (s: Summary) => s.count === 0 ? "—" : `${duo(s)} (${s.count})`;
  return [
    [`${run.calls} calls, ${options.durationS} s`, ...run.columns.map((c) => c.title)],
    [
      "CPU ms per call-minute (all instances)",
      ...cell((x) => `${f1(x.cpuMsPerCallMinute)} (${f1(x.cpuPercent)} % core)`),
    ],
    [
      "  ÷ floor",
      ...cell((x) => floor === undefined ? "—" : f2(ratio(x.cpuMsPerCallMinute, floor.cpuMsPerCallMinute))),
    ],
    ["  Postgres CPU", ...cell(besideCpu("postgres"))],
    ["  round-robin proxy CPU", ...cell(besideCpu("proxy"))],
    ["caller→OpenAI ms p50/p99", ...cell((x) => duo(x.upMs))],
    ["OpenAI→caller ms p50/p99", ...cell((x) => duo(x.downMs))],
    ["voice webhook ms p50/p99 (probes under load)", ...cell((x) => webhook(x.webhookMs))],
    ["  the N calls' webhooks, in the ramp", ...cell((x) => webhook(x.rampWebhookMs))],
    ["start→first greeting ms p50/p99 (probes)", ...cell((x) => summary(x.startToGreetingMs))],
    ["pre-warms unused (socket on another instance)", ...cell((x) => String(x.load.upstream.unusedPrewarms))],
    ["frames lost up / down", ...cell((x) => `${x.framesLost.up} / ${x.framesLost.down}`)],
    ["failed calls / problems", ...cell((x) => String(x.failures.length))],
    ["load generator CPU % core", ...cell((x) => f1(x.load.generator.cpuPercent))],
  ];
}

/** Cells laid out in columns. */
export function layout(cells: string[][]): string[] {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(cells[0]!), widths.map((w) => "─".repeat(w)).join("  "), ...cells.slice(1).map(line)];
}

/** Runs the cluster bench; `skipped` says why nothing ran (no Postgres). */
export async function runCluster(
  options: BenchOptions,
): Promise<{ runs: ClusterRun[]; failed: boolean; skipped?: string }> {
  const size = options.clusterSize!;
  const missing = await postgresMissing();
  if (missing !== undefined) {
    console.log(`⚠️  ${missing}: the cluster bench needs it, so it is skipped.`);
    return { runs: [], failed: false, skipped: missing };
  }
  const v8 = options.v8Flags === undefined ? {} : { v8Flags: options.v8Flags };
  const warm = { ...v8, primingCalls: CLUSTER_PRIMING_CALLS_PER_INSTANCE * size };
  const plan = [
    { title: "bare relay (floor)", start: undefined },
    { title: "Parley alone (SQLite)", start: singleBehindProxy(warm) },
    { title: `Parley ×${size} (Postgres)`, start: clusterOnPostgres(size, v8) },
    { title: "Parley alone, again", start: singleBehindProxy(warm) },
  ];
  const runs: ClusterRun[] = [];
  let failed = false;
  for (const calls of options.calls) {
    const run: ClusterRun = { calls, columns: [], verdict: undefined };
    for (const { title, start } of plan) {
      try {
        const figures = start === undefined
          ? await measure("bare", calls, options)
          : await measure("parley", calls, options, 0, { label: title, start });
        run.columns.push({ title, figures });
        if (failedRun(figures)) failed = true;
      } catch (error) {
        console.error(`❌ ${title} with ${calls} calls: ${(error as Error).message}`);
        failed = true;
      }
    }
    const figures = (title: string) => run.columns.find((c) => c.title === title)?.figures;
    const cluster = figures(plan[2]!.title);
    const alone = [figures(plan[1]!.title), figures(plan[3]!.title)].filter((x) => x !== undefined);
    if (cluster !== undefined && alone.length > 0) {
      run.verdict = {
        up: judgeP99(cluster.upMs.p99, alone.map((x) => x.upMs.p99)),
        down: judgeP99(cluster.downMs.p99, alone.map((x) => x.downMs.p99)),
      };
    }
    console.log("");
    for (const line of layout(clusterTable(run, options))) console.log(line);
    for (const { title, figures } of run.columns) {
      for (const problem of figures.failures.slice(0, 5)) console.log(`  ✗ ${title}: ${problem}`);
    }
    if (run.verdict !== undefined) console.log(`\n${verdictLine(run.verdict, size)}`);
    runs.push(run);
  }
  return { runs, failed };
}

/** The cluster runs as Markdown tables with their verdicts. */
export function clusterMarkdown(runs: ClusterRun[], options: BenchOptions): string[] {
  const lines: string[] = [];
  for (const run of runs) {
    const [titles, ...rows] = clusterTable(run, options);
    lines.push(`| ${titles!.join(" | ")} |`, `|${" --- |".repeat(titles!.length)}`);
    for (const row of rows) lines.push(`| ${row.join(" | ")} |`);
    lines.push("");
    if (run.verdict !== undefined) lines.push(verdictLine(run.verdict, options.clusterSize!), "");
  }
  return lines;
}
