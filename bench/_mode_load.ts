/**
 * The load runs every mode starts with (`--smoke`, the default, `--profile`, and the first pass of
 * `--soak` and `--flood`): for each call count, each relay measured in turn, then Parley ÷ bare and
 * Parley's targets.
 *
 * @module
 */

import {
  type BenchOptions,
  CPU_RATIO_TARGET,
  RELAY_TITLES,
  type RelayKind,
  RSS_PER_CALL_TARGET_MB,
} from "./_options.ts";
import { measure, type RelayFigures, WindowGate } from "./_relays.ts";
import { printRun } from "./_report.ts";

/** Target verdicts for Parley at one N (undefined: not applicable at this N). */
export interface TargetChecks {
  latencyP99: boolean | undefined;
  cpuRatio: boolean | undefined;
  startToGreeting: boolean | undefined;
  rssPerCall: boolean | undefined;
  noFramesLost: boolean | undefined;
}

/** One N: every relay measured, Parley ÷ bare, targets. */
export interface RunFigures {
  calls: number;
  relays: Partial<Record<RelayKind, RelayFigures>>;
  /** Parley ÷ bare for each comparable figure. */
  ratios?: Record<string, number>;
  targets?: TargetChecks;
  /** With `--rounds=N` over 1: each relay's CPU per call-minute in every round, in order. */
  cpuRounds?: Partial<Record<RelayKind, number[]>>;
}

/** The round whose CPU per call-minute is the median (the lower middle of an even count). */
export function medianRound(rounds: readonly RelayFigures[]): RelayFigures {
  const sorted = [...rounds].sort((a, b) => a.cpuMsPerCallMinute - b.cpuMsPerCallMinute);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** a ÷ b (1 for 0 ÷ 0, ∞ for a ÷ 0). */
export function ratio(a: number, b: number): number {
  return b === 0 ? (a === 0 ? 1 : Infinity) : a / b;
}

/** Parley ÷ bare for each comparable figure. */
function compare(parley: RelayFigures, bare: RelayFigures): Record<string, number> {
  return {
    upP50: ratio(parley.upMs.p50, bare.upMs.p50),
    upP99: ratio(parley.upMs.p99, bare.upMs.p99),
    upMax: ratio(parley.upMs.max, bare.upMs.max),
    downP50: ratio(parley.downMs.p50, bare.downMs.p50),
    downP99: ratio(parley.downMs.p99, bare.downMs.p99),
    downMax: ratio(parley.downMs.max, bare.downMs.max),
    startToGreetingP50: ratio(parley.startToGreetingMs.p50, bare.startToGreetingMs.p50),
    startToGreetingP99: ratio(parley.startToGreetingMs.p99, bare.startToGreetingMs.p99),
    rampStartToGreetingP50: ratio(parley.rampStartToGreetingMs.p50, bare.rampStartToGreetingMs.p50),
    rampStartToGreetingP99: ratio(parley.rampStartToGreetingMs.p99, bare.rampStartToGreetingMs.p99),
    speechToClearP50: ratio(parley.speechToClearMs.p50, bare.speechToClearMs.p50),
    speechToClearP99: ratio(parley.speechToClearMs.p99, bare.speechToClearMs.p99),
    cpuPerCall: ratio(parley.cpuMsPerCallMinute, bare.cpuMsPerCallMinute),
    rssPerCall: ratio(parley.rssPerCallMb, bare.rssPerCallMb),
  };
}

/** Parley's figures against the targets. */
function checkTargets(parley: RelayFigures, ratios: Record<string, number> | undefined): TargetChecks {
  return {
    latencyP99: parley.upMs.p99 <= 1 && parley.downMs.p99 <= 1,
    cpuRatio: ratios === undefined ? undefined : ratios.cpuPerCall! <= CPU_RATIO_TARGET,
    startToGreeting: parley.startToGreetingMs.p99 <= 10,
    // One call's RSS drowns in the process's own growth; per-call RSS means something from ~50 calls.
    rssPerCall: parley.calls < 50 ? undefined : parley.rssPerCallMb <= RSS_PER_CALL_TARGET_MB,
    noFramesLost: parley.framesLost.up === 0 && parley.framesLost.down === 0,
  };
}

/** True when a relay lost a frame or a call failed. */
export function failedRun(figures: RelayFigures): boolean {
  return figures.framesLost.up !== 0 || figures.framesLost.down !== 0 || figures.failures.length > 0;
}

/** Measures every relay at every call count, printing each count's table as it completes. */
export async function runLoad(options: BenchOptions): Promise<{ runs: RunFigures[]; failed: boolean }> {
  const runs: RunFigures[] = [];
  let failed = false;
  for (const calls of options.calls) {
    const run: RunFigures = { calls, relays: {} };
    const rounds: Partial<Record<RelayKind, RelayFigures[]>> = {};
    const broken = new Set<RelayKind>();
    const measureOne = async (kind: RelayKind, gate?: WindowGate) => {
      try {
        const figures = await measure(kind, calls, options, 0, undefined, gate);
        (rounds[kind] ??= []).push(figures);
        if (failedRun(figures)) failed = true;
      } catch (error) {
        console.error(`❌ ${RELAY_TITLES[kind]} with ${calls} calls: ${(error as Error).message}`);
        broken.add(kind);
        failed = true;
      }
    };
    for (let round = 0; round < options.rounds; round++) {
      const kinds = options.relays.filter((kind) => !broken.has(kind));
      if (options.together) {
        // Side by side: every relay's window opens at one moment, so the machine's drift weighs alike.
        const gate = new WindowGate(kinds.length);
        await Promise.all(kinds.map((kind) => measureOne(kind, gate)));
      } else {
        for (const kind of kinds) await measureOne(kind);
      }
    }
    for (const [kind, figures] of Object.entries(rounds) as [RelayKind, RelayFigures[]][]) {
      run.relays[kind] = medianRound(figures);
      if (options.rounds > 1) (run.cpuRounds ??= {})[kind] = figures.map((f) => f.cpuMsPerCallMinute);
    }
    const { parley, bare } = run.relays;
    const live = run.relays["parley-live"];
    if (parley !== undefined && bare !== undefined) run.ratios = compare(parley, bare);
    if (live !== undefined && bare !== undefined) {
      run.ratios = { ...run.ratios, cpuPerCallLive: ratio(live.cpuMsPerCallMinute, bare.cpuMsPerCallMinute) };
    }
    const tapped = run.relays["parley-tap"];
    if (parley !== undefined && tapped !== undefined) {
      run.ratios = {
        ...run.ratios,
        cpuPerCallTap: ratio(tapped.cpuMsPerCallMinute, parley.cpuMsPerCallMinute),
        rssPerCallTap: ratio(tapped.rssPerCallMb, parley.rssPerCallMb),
      };
    }
    const recording = run.relays["parley-record"];
    if (parley !== undefined && recording !== undefined) {
      run.ratios = {
        ...run.ratios,
        cpuPerCallRecord: ratio(recording.cpuMsPerCallMinute, parley.cpuMsPerCallMinute),
        rssPerCallRecord: ratio(recording.rssPerCallMb, parley.rssPerCallMb),
        upP99Record: ratio(recording.upMs.p99, parley.upMs.p99),
        downP99Record: ratio(recording.downMs.p99, parley.downMs.p99),
      };
    }
    if (parley !== undefined) run.targets = checkTargets(parley, run.ratios);
    runs.push(run);
    printRun(run, options);
  }
  return { runs, failed };
}
