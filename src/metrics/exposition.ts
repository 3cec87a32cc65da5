/**
 * The Prometheus text exposition format (version 0.0.4), written by hand: `# HELP` / `# TYPE` lines,
 * escaped label values, histograms as cumulative `_bucket{le="…"}` series ending in `+Inf`, then
 * `_sum` and `_count`.
 *
 * @module
 */

/** Content type of the exposition text. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A histogram with fixed upper bounds, observed in memory. */
export class Histogram {
  readonly bounds: readonly number[];
  readonly counts: number[];
  sum = 0;
  count = 0;

  /** A histogram with these (ascending) upper bounds. */
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = bounds.map(() => 0);
  }

  /** Counts `value` in its bucket; a value that is not finite is ignored. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.sum += value;
    this.count++;
    const index = this.bounds.findIndex((bound) => value <= bound);
    if (index >= 0) this.counts[index]!++;
  }
}

/** The exposition text being written, family by family. */
export class Exposition {
  #out: string[] = [];

  /** A metric family's `# HELP` and `# TYPE` lines. */
  family(name: string, type: string, help: string): void {
    this.#out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }

  /** One sample line. */
  sample(name: string, value: number, labels: Record<string, string> = {}): void {
    this.#out.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  }

  /** A whole histogram family: cumulative buckets, `+Inf`, sum and count. */
  histogram(name: string, help: string, h: Histogram): void {
    this.family(name, "histogram", help);
    let cumulative = 0;
    h.bounds.forEach((bound, i) => {
      cumulative += h.counts[i]!;
      this.sample(`${name}_bucket`, cumulative, { le: formatValue(bound) });
    });
    this.sample(`${name}_bucket`, h.count, { le: "+Inf" });
    this.sample(`${name}_sum`, h.sum);
    this.sample(`${name}_count`, h.count);
  }

  /** The text written so far, ending in a line feed. */
  text(): string {
    return this.#out.join("\n") + "\n";
  }
}

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatLabels(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
