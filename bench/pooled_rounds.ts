/**
 * Pools the rounds of several saved bench runs (`bench/results/<name>.json`, each from
 * `deno task bench --rounds=N`) into one estimate per call count of the two same-run cost ratios the
 * issues set targets for:
 * - Parley ÷ the no-delay floor, CPU per call-minute (target ≤ 1.15);
 * - Parley recording ÷ Parley not recording (target ≤ 1.10).
 *
 * Each ratio is taken within one round (the relays of a round run one after another, minutes apart at
 * most), so a machine that is slower in one run moves both sides. One round's ratio moves ±3–5 % on
 * this VM; the mean over many rounds, with its 95 % interval (Student's t), says where the cost
 * actually sits. A target is judged on the mean, and the interval is printed beside it.
 *
 * A round in which another program took the VM shows as one relay's CPU jumping far above its own
 * other rounds of the same run (both relays of the round do not move alike, since they ran minutes
 * apart). Such a round is **disturbed**: a relay's CPU at least {@linkcode DISTURBED_FACTOR}× the
 * median of that relay's rounds in its run. Disturbed rounds stay in the estimate the target is judged
 * on; the line after it says how many there were and what the mean would be without them, so a
 * reader sees how much they move it.
 *
 * Usage: `deno run --allow-read=bench/results bench/pooled_rounds.ts rounds-1 rounds-2 …`
 *
 * @module
 */

/** A relay's CPU in a round at least this many times its median over the run's rounds: disturbed. */
export const DISTURBED_FACTOR = 1.2;

/** One call count's ratios, one per round, pooled over runs. */
export interface PooledRatios {
  calls: number;
  /** Parley ÷ floor, one per round that measured both. */
  parleyOverFloor: number[];
  /** Recording ÷ not, one per round that measured both. */
  recordingOverNot: number[];
  /** For each of {@linkcode parleyOverFloor}: whether either relay's CPU was disturbed in that round. */
  parleyOverFloorDisturbed: boolean[];
  /** For each of {@linkcode recordingOverNot}: likewise. */
  recordingOverNotDisturbed: boolean[];
}

/** What a pooled sample says: size, mean, median and the 95 % interval of the mean. */
export interface PooledEstimate {
  n: number;
  mean: number;
  median: number;
  low: number;
  high: number;
}

/** The CPU rounds one saved run holds per call count (`cpuRounds` of the bench's JSON). */
interface SavedRun {
  calls: number;
  cpuRounds?: Partial<Record<string, number[]>>;
}

/** Pools the per-round ratios of `runs` (the `runs` arrays of saved results) by call count. */
export function poolRounds(runs: readonly SavedRun[]): PooledRatios[] {
  const byCalls = new Map<number, PooledRatios>();
  for (const run of runs) {
    const rounds = run.cpuRounds;
    if (rounds === undefined) continue;
    let pooled = byCalls.get(run.calls);
    if (pooled === undefined) {
      pooled = {
        calls: run.calls,
        parleyOverFloor: [],
        recordingOverNot: [],
        parleyOverFloorDisturbed: [],
        recordingOverNotDisturbed: [],
      };
      byCalls.set(run.calls, pooled);
    }
    pooled.parleyOverFloor.push(...pairwise(rounds["parley"], rounds["bare"]));
    pooled.parleyOverFloorDisturbed.push(...eitherDisturbed(rounds["parley"], rounds["bare"]));
    pooled.recordingOverNot.push(...pairwise(rounds["parley-record"], rounds["parley"]));
    pooled.recordingOverNotDisturbed.push(...eitherDisturbed(rounds["parley-record"], rounds["parley"]));
  }
  return [...byCalls.values()].sort((a, b) => a.calls - b.calls);
}

function pairwise(top: number[] | undefined, bottom: number[] | undefined): number[] {
  if (top === undefined || bottom === undefined) return [];
  const count = Math.min(top.length, bottom.length);
  return Array.from({ length: count }, (_, i) => top[i]! / bottom[i]!);
}

/** Per round of {@linkcode pairwise}: whether `top` or `bottom` was disturbed in it. */
function eitherDisturbed(top: number[] | undefined, bottom: number[] | undefined): boolean[] {
  if (top === undefined || bottom === undefined) return [];
  const [a, b] = [disturbedRounds(top), disturbedRounds(bottom)];
  return Array.from({ length: Math.min(top.length, bottom.length) }, (_, i) => a[i]! || b[i]!);
}

/** Which of one relay's rounds in a run were disturbed (its CPU ≥ the factor × its median). */
export function disturbedRounds(cpu: readonly number[]): boolean[] {
  const middle = median(cpu);
  return cpu.map((v) => cpu.length >= 3 && v >= DISTURBED_FACTOR * middle);
}

/** Two-sided 95 % Student's t for 1–30 degrees of freedom; beyond, the normal 1.96. */
const T95 = [
  12.706,
  4.303,
  3.182,
  2.776,
  2.571,
  2.447,
  2.365,
  2.306,
  2.262,
  2.228,
  2.201,
  2.179,
  2.16,
  2.145,
  2.131,
  2.12,
  2.11,
  2.101,
  2.093,
  2.086,
  2.08,
  2.074,
  2.069,
  2.064,
  2.06,
  2.056,
  2.052,
  2.048,
  2.045,
  2.042,
];

/** The middle value of `values` (the mean of the two middle ones for an even count). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

/** Mean, median and the 95 % interval of the mean of `sample` (at least two values). */
export function estimate(sample: readonly number[]): PooledEstimate {
  const n = sample.length;
  if (n < 2) throw new Error(`an estimate needs two rounds or more, got ${n}`);
  const mean = sample.reduce((sum, v) => sum + v, 0) / n;
  const variance = sample.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1);
  const half = (T95[n - 2] ?? 1.96) * Math.sqrt(variance / n);
  return { n, mean, median: median(sample), low: mean - half, high: mean + half };
}

/** One line: the estimate against `target`, judged on the mean. */
export function estimateLine(label: string, sample: readonly number[], target: number): string {
  if (sample.length < 2) return `${label}: fewer than two rounds`;
  const e = estimate(sample);
  const over = sample.filter((v) => v > target).length;
  const verdict = e.mean <= target ? "✓ met" : "✗ not met";
  return `${label}: mean ${e.mean.toFixed(3)} (95 % interval ${e.low.toFixed(3)}–${
    e.high.toFixed(3)
  }), median ` +
    `${e.median.toFixed(3)}, ${e.n} rounds, ${over} over ${target.toFixed(2)} · target ≤ ${
      target.toFixed(2)
    } ${verdict}`;
}

/**
 * The line after {@linkcode estimateLine}: how many rounds were disturbed and the mean without them
 * (for reading only: the target is judged on every round). Undefined when none was.
 */
export function disturbedLine(sample: readonly number[], disturbed: readonly boolean[]): string | undefined {
  const count = disturbed.filter(Boolean).length;
  if (count === 0) return undefined;
  const kept = sample.filter((_, i) => !disturbed[i]);
  const without = kept.length < 2 ? "fewer than two rounds left" : `mean ${estimate(kept).mean.toFixed(3)}`;
  const values = sample.filter((_, i) => disturbed[i]).map((v) => v.toFixed(2)).join(", ");
  return `  ${count} disturbed round(s) (a relay's CPU ≥ ${DISTURBED_FACTOR}× its run's median), ` +
    `ratio ${values}, kept above; without them: ${without}`;
}

if (import.meta.main) {
  const names = Deno.args;
  if (names.length === 0) {
    console.error(
      "Usage: bench/pooled_rounds.ts <result name>… (files in bench/results/, saved with --rounds)",
    );
    Deno.exit(2);
  }
  const runs: SavedRun[] = [];
  for (const name of names) {
    const path = new URL(`./results/${name.replace(/\.json$/, "")}.json`, import.meta.url);
    runs.push(...(JSON.parse(await Deno.readTextFile(path)) as { runs: SavedRun[] }).runs);
  }
  console.log(`Pooled rounds of ${names.join(", ")}`);
  for (const pooled of poolRounds(runs)) {
    const lines = [
      estimateLine(`${pooled.calls} calls, Parley ÷ floor CPU`, pooled.parleyOverFloor, 1.15),
      disturbedLine(pooled.parleyOverFloor, pooled.parleyOverFloorDisturbed),
      estimateLine(`${pooled.calls} calls, recording ÷ not CPU`, pooled.recordingOverNot, 1.10),
      disturbedLine(pooled.recordingOverNot, pooled.recordingOverNotDisturbed),
    ];
    for (const line of lines) if (line !== undefined) console.log(line);
  }
}
