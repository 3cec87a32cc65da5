/**
 * The bench's report: the table printed per call count, the closing line on the targets, and the
 * result files `bench/results/<name>.json` and `.md` with the machine and Deno version.
 *
 * @module
 */

import type { Summary } from "../testing/frames.ts";
import type { RunFigures, TargetChecks } from "./_mode_load.ts";
import {
  type BenchOptions,
  CPU_RATIO_TARGET,
  RELAY_KINDS,
  RELAY_TITLES,
  type RelayKind,
  RSS_PER_CALL_TARGET_MB,
} from "./_options.ts";
import type { MachineInfo } from "./_proc.ts";
import { profileMarkdown } from "./_profile.ts";
import { type RelayFigures, ROOT } from "./_relays.ts";

/** Where the result files go. */
export const RESULTS = `${ROOT}bench/results/`;

/** A number with two decimals (∞ when not finite). */
export const f2 = (n: number) => Number.isFinite(n) ? n.toFixed(2) : "∞";
/** A number with one decimal (∞ when not finite). */
export const f1 = (n: number) => Number.isFinite(n) ? n.toFixed(1) : "∞";
/** p50 / p99 / max. */
export const tri = (s: Summary) => `${f2(s.p50)} / ${f2(s.p99)} / ${f2(s.max)}`;
/** p50 / p99. */
export const duo = (s: Summary) => `${f2(s.p50)} / ${f2(s.p99)}`;
/** A target verdict in words. */
export const mark = (ok: boolean | undefined) => ok === undefined ? "n/a" : ok ? "✓ met" : "✗ not met";

/**
 * The closing line on the targets. A smoke run (a few calls for a few seconds, on a CI machine
 * doing other work) judges only lost frames: printing "✗ not met" for latency while passing would
 * read as a failure.
 */
export function targetSummary(t: TargetChecks, calls: number, mode: BenchOptions["mode"]): string {
  if (mode === "smoke") {
    return `smoke: latency targets not judged (run deno task bench for them) · 0 frames lost ${
      mark(t.noFramesLost)
    }`;
  }
  return `Targets at ${calls} calls: latency p99 ≤ 1 ms ${
    mark(t.latencyP99)
  } · CPU ≤ ${CPU_RATIO_TARGET}× bare ${mark(t.cpuRatio)} · start→greeting ≤ 10 ms ${
    mark(t.startToGreeting)
  } · RSS ≤ ${RSS_PER_CALL_TARGET_MB} MB/call ${mark(t.rssPerCall)} · ` +
    `0 frames lost ${mark(t.noFramesLost)}`;
}

/** One line of a results table: a figure for each relay, Parley ÷ bare, and the target check. */
interface Row {
  label: string;
  values: Partial<Record<RelayKind, string>>;
  ratio: string;
  target: string;
}

function rows(run: RunFigures, mode: BenchOptions["mode"]): Row[] {
  const p = run.relays.parley;
  const r = run.ratios;
  const t = run.targets;
  const each = (show: (x: RelayFigures) => string) => {
    const values: Partial<Record<RelayKind, string>> = {};
    for (const [kind, figures] of Object.entries(run.relays) as [RelayKind, RelayFigures][]) {
      values[kind] = show(figures);
    }
    return values;
  };
  const ratioCell = (...keys: string[]) => r === undefined ? "—" : keys.map((k) => f2(r[k]!)).join(" / ");
  const check = (text: string, ok: boolean | undefined) => t === undefined ? "" : `${text} ${mark(ok)}`;
  // A smoke run judges lost frames only (see targetSummary).
  const judged = (text: string, ok: boolean | undefined) =>
    mode === "smoke" ? `${text} not judged (smoke)` : check(text, ok);
  return [
    {
      label: "caller→OpenAI ms p50/p99/max",
      values: each((x) => tri(x.upMs)),
      ratio: ratioCell("upP50", "upP99", "upMax"),
      target: judged("p99 ≤ 1 ms", p !== undefined && p.upMs.p99 <= 1),
    },
    {
      label: "OpenAI→caller ms p50/p99/max",
      values: each((x) => tri(x.downMs)),
      ratio: ratioCell("downP50", "downP99", "downMax"),
      target: judged("p99 ≤ 1 ms", p !== undefined && p.downMs.p99 <= 1),
    },
    {
      label: "start→first greeting ms p50/p99 (probe calls)",
      values: each((x) => duo(x.startToGreetingMs)),
      ratio: ratioCell("startToGreetingP50", "startToGreetingP99"),
      target: judged("p99 ≤ 10 ms (fake delay 0)", t?.startToGreeting),
    },
    {
      label: "  of which start→response.create",
      values: each((x) => duo(x.startToResponseCreateMs)),
      ratio: "",
      target: "",
    },
    {
      label: "  the N calls, all started in the ramp",
      values: each((x) => duo(x.rampStartToGreetingMs)),
      ratio: ratioCell("rampStartToGreetingP50", "rampStartToGreetingP99"),
      target: "",
    },
    {
      label: "  first call, cold relay (ms)",
      values: each((x) => f2(x.coldStartToGreetingMs)),
      ratio: "",
      target: "",
    },
    {
      label: "speech_started→clear ms p50/p99",
      // GPT-Live has no speech_started: the model owns barge-in (its calls are cut in on all the same).
      values: each((x) => x.speechToClearMs.count === 0 ? "—" : duo(x.speechToClearMs)),
      ratio: ratioCell("speechToClearP50", "speechToClearP99"),
      target: "",
    },
    {
      label: "CPU ms per call-minute",
      values: each((x) => `${f1(x.cpuMsPerCallMinute)} (${f1(x.cpuPercent)} % core)`),
      ratio: ratioCell("cpuPerCall"),
      target: judged(`≤ ${CPU_RATIO_TARGET}× bare`, t?.cpuRatio),
    },
    ...run.cpuRounds === undefined ? [] : [roundsRow(run.cpuRounds)],
    {
      label: "  GPT-Live CPU ÷ bare",
      values: {},
      ratio: r?.cpuPerCallLive === undefined ? "" : f2(r.cpuPerCallLive),
      target: "",
    },
    {
      label: "  tap listening ÷ no tap: CPU / RSS",
      values: {},
      ratio: r?.cpuPerCallTap === undefined ? "" : `${f2(r.cpuPerCallTap)} / ${f2(r.rssPerCallTap!)}`,
      target: "",
    },
    {
      label: "  recording ÷ not: CPU / RSS / p99 up / p99 down",
      values: {},
      ratio: r?.cpuPerCallRecord === undefined
        ? ""
        : `${f2(r.cpuPerCallRecord)} / ${f2(r.rssPerCallRecord!)} / ${f2(r.upP99Record!)} / ${
          f2(r.downP99Record!)
        }`,
      target: r?.cpuPerCallRecord === undefined ? "" : "CPU ≤ 1.10, RSS ≈ 1, p99 ≈ 1",
    },
    {
      label: "RSS MB per active call",
      values: each((x) => `${f2(x.rssPerCallMb)} (${f1(x.rssIdleMb)}→${f1(x.rssActiveMb)})`),
      ratio: ratioCell("rssPerCall"),
      target: judged(`≤ ${RSS_PER_CALL_TARGET_MB} MB`, t?.rssPerCall),
    },
    {
      label: "frames lost up / down",
      values: each((x) => `${x.framesLost.up} / ${x.framesLost.down}`),
      ratio: "",
      target: check("0", t?.noFramesLost),
    },
    {
      label: "failed calls / problems",
      values: each((x) => String(x.failures.length)),
      ratio: "",
      target: "",
    },
    {
      label: "load generator CPU % core",
      values: each((x) => f1(x.load.generator.cpuPercent)),
      ratio: "",
      target: "",
    },
  ];
}

/** With `--rounds`: each relay's CPU in every round, and Parley ÷ bare round by round. */
function roundsRow(cpu: Partial<Record<RelayKind, number[]>>): Row {
  const values: Partial<Record<RelayKind, string>> = {};
  for (const [kind, rounds] of Object.entries(cpu) as [RelayKind, number[]][]) {
    values[kind] = rounds.map(f1).join(" / ");
  }
  const { parley, bare } = cpu;
  return {
    label: "  each round (the median is above)",
    values,
    ratio: parley === undefined || bare === undefined
      ? ""
      : parley.map((p, i) => bare[i] === undefined ? "—" : f2(p / bare[i]!)).join(" / "),
    target: "",
  };
}

/** The table's columns: label, each relay measured, × bare, target. */
function table(run: RunFigures, options: BenchOptions): { titles: string[]; cells: string[][] } {
  const kinds = RELAY_KINDS.filter((kind) => run.relays[kind] !== undefined);
  const titles = [
    `${run.calls} call${run.calls === 1 ? "" : "s"}, ${options.durationS} s`,
    ...kinds.map((kind) => RELAY_TITLES[kind]),
    "Parley ÷ bare",
    "target (Parley)",
  ];
  const cells = rows(run, options.mode).map((row) => [
    row.label,
    ...kinds.map((kind) => row.values[kind] ?? "—"),
    row.ratio,
    row.target,
  ]);
  return { titles, cells };
}

/** Prints one call count's table and its relays' first problems. */
export function printRun(run: RunFigures, options: BenchOptions): void {
  const { titles, cells } = table(run, options);
  const widths = titles.map((title, i) => Math.max(title.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  console.log("");
  console.log(line(titles));
  console.log(widths.map((w) => "─".repeat(w)).join("  "));
  for (const row of cells) console.log(line(row));
  for (const figures of Object.values(run.relays)) {
    for (const problem of figures.failures.slice(0, 5)) console.log(`  ✗ ${figures.relay}: ${problem}`);
    if (figures.failures.length > 5) {
      console.log(`  ✗ ${figures.relay}: … ${figures.failures.length - 5} more`);
    }
  }
}

/**
 * Memory per added call: with two call counts of 50 or more (`--calls=50,200`), each relay's growth in
 * RSS from idle to the calls active (after a full GC) at the larger count minus that at the smaller, per
 * call added. Unlike RSS per active call
 * ((active − idle) ÷ N), it leaves out what a process adds once under load whatever the number of calls
 * (compiled code, the young generation grown to its cap, buffers shared by all calls), which at 50 calls
 * reads as tens of KB per call. Empty with fewer than two such counts.
 */
export function addedCallMemory(runs: RunFigures[]): string[] {
  const counted = runs.filter((run) => run.calls >= 50).sort((a, b) => a.calls - b.calls);
  const small = counted[0];
  const large = counted.at(-1);
  if (small === undefined || large === undefined || small.calls === large.calls) return [];
  const added = large.calls - small.calls;
  const kb = (kind: RelayKind): number | undefined => {
    const a = small.relays[kind];
    const b = large.relays[kind];
    // Each count ran in a process of its own: growth from each one's idle RSS, not its idle RSS itself.
    return a === undefined || b === undefined
      ? undefined
      : (((b.rssActiveMb - b.rssIdleMb) - (a.rssActiveMb - a.rssIdleMb)) * 1024) / added;
  };
  const cells = (Object.keys(large.relays) as RelayKind[]).flatMap((kind) => {
    const value = kb(kind);
    return value === undefined ? [] : [`${RELAY_TITLES[kind]} ${value.toFixed(1)} KB`];
  });
  if (cells.length === 0) return [];
  const lines = [
    `RSS per added call, ${small.calls} → ${large.calls} calls (after a full GC): ${cells.join(", ")}`,
  ];
  const parley = kb("parley");
  const recording = kb("parley-record");
  if (parley !== undefined && recording !== undefined) {
    lines.push(`  recording adds ${(recording - parley).toFixed(1)} KB per call`);
  }
  return lines;
}

/** The results as Markdown: header, a table per call count, the mode's own lines, CPU profiles. */
export function markdown(
  runs: RunFigures[],
  machine: MachineInfo,
  options: BenchOptions,
  modeLines: string[],
): string {
  const lines = [
    `# Parley relay bench (${options.mode})`,
    "",
    `${machine.date} · ${machine.cpus} × ${machine.cpuModel} · ${machine.memoryGiB} GiB · Linux ${machine.kernel} · ` +
    `Deno ${machine.deno} (V8 ${machine.v8}) · load average before: ${machine.loadAverage.join(", ")}`,
    "",
    `\`deno task bench${Deno.args.length > 0 ? " " : ""}${
      Deno.args.join(" ")
    }\`: ${options.durationS} s window ` +
    `after ${options.warmupS} s warm-up. Latency is the relay's added time per 160-byte frame over loopback; ` +
    "the load generator runs on the same machine (its CPU is shown)." +
    (options.together
      ? " The relays ran side by side (`--together`), each with its own load generator and fake OpenAI, " +
        "their windows opened together: CPU and RSS are each relay's own, the load generator's CPU is the " +
        "bench process's (every load together), and each relay's latency includes the others' load on the machine."
      : ""),
    "",
  ];
  for (const run of runs) {
    const { titles, cells } = table(run, options);
    lines.push(`| ${titles.join(" | ")} |`, `|${" --- |".repeat(titles.length)}`);
    for (const row of cells) lines.push(`| ${row.join(" | ")} |`);
    lines.push("");
  }
  if (modeLines.length > 0) lines.push(...modeLines, "");
  for (const run of runs) {
    for (const figures of Object.values(run.relays)) {
      if (figures.profile === undefined) continue;
      lines.push(
        profileMarkdown(figures.profile, `CPU profile: ${RELAY_TITLES[figures.relay]}, ${run.calls} calls`),
      );
    }
  }
  return lines.join("\n");
}
