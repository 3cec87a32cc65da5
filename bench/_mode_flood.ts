/**
 * `--flood`: after the calm load run, the same healthy calls again beside sockets flooding Parley
 * with frames faster than real time; the healthy calls' latency, Parley's RSS and CPU side by side.
 *
 * @module
 */

import { failedRun, type RunFigures } from "./_mode_load.ts";
import type { BenchOptions } from "./_options.ts";
import { measure, type RelayFigures } from "./_relays.ts";
import { f1, f2 } from "./_report.ts";

/** Sockets flooding beside the healthy calls in `--flood`. */
const FLOOD_SOCKETS = 10;

/** The calm run beside the flooded one, as Markdown. */
function floodSummary(calm: RelayFigures, flooded: RelayFigures): string[] {
  const peak = (f: RelayFigures) => Math.max(f.rssActiveMb, ...f.rssSamples.map((s) => s.rssMb));
  const sent = flooded.flood?.framesSent ?? 0;
  const windowS = flooded.windowMs / 1000;
  return [
    `Flood: ${FLOOD_SOCKETS} sockets sending ${f1(sent / windowS / FLOOD_SOCKETS / 50)}× real time ` +
    `(${sent} frames in ${f1(windowS)} s) beside ${flooded.calls} healthy calls.`,
    "",
    "| healthy calls | no flood | beside the flood |",
    "| --- | --- | --- |",
    `| caller→OpenAI ms p50/p99 | ${f2(calm.upMs.p50)} / ${f2(calm.upMs.p99)} | ${f2(flooded.upMs.p50)} / ${
      f2(flooded.upMs.p99)
    } |`,
    `| OpenAI→caller ms p50/p99 | ${f2(calm.downMs.p50)} / ${f2(calm.downMs.p99)} | ${
      f2(flooded.downMs.p50)
    } / ${f2(flooded.downMs.p99)} |`,
    `| Parley RSS peak MB | ${f1(peak(calm))} | ${f1(peak(flooded))} |`,
    `| Parley CPU % core | ${f1(calm.cpuPercent)} | ${f1(flooded.cpuPercent)} |`,
    `| healthy frames lost up / down | ${calm.framesLost.up} / ${calm.framesLost.down} | ${flooded.framesLost.up} / ${flooded.framesLost.down} |`,
    `| failed calls | ${calm.failures.length} | ${flooded.failures.length} |`,
  ];
}

/** Runs each call count again beside the flood; prints and returns the comparison. */
export async function runFlood(
  runs: RunFigures[],
  options: BenchOptions,
): Promise<{ lines: string[]; failed: boolean }> {
  const floodLines: string[] = [];
  let failed = false;
  for (const run of runs) {
    const calm = run.relays.parley;
    if (calm === undefined) continue;
    try {
      const flooded = await measure("parley", run.calls, options, FLOOD_SOCKETS);
      if (failedRun(flooded)) failed = true;
      floodLines.push(...floodSummary(calm, flooded));
    } catch (error) {
      console.error(`❌ Flood run with ${run.calls} calls: ${(error as Error).message}`);
      failed = true;
    }
  }
  console.log("");
  for (const line of floodLines) console.log(line);
  return { lines: floodLines, failed };
}
