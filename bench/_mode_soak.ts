/**
 * `--soak`: after the load run (50 calls × 10 min, an upstream drop every ~2 min per call), the
 * verdicts: RSS (and the V8 heap after a full GC) flat, every socket closed, no frame lost, every
 * reconnect under 2 s and no call lost.
 *
 * @module
 */

import type { Summary } from "../testing/frames.ts";
import type { RunFigures } from "./_mode_load.ts";
import type { MemorySample, RelayFigures } from "./_relays.ts";
import { f1, mark } from "./_report.ts";

/** The soak's verdicts. */
export interface SoakVerdict {
  /** Highest RSS in the first half of the window (after warm-up), MB. */
  firstHalfPeakMb: number;
  /** Highest RSS in the second half, MB. */
  secondHalfPeakMb: number;
  /** Second-half peak over first-half peak, %. */
  growthPercent: number;
  rssFlat: boolean;
  /** Same comparison on the V8 heap after a full GC (what the relay retains), when sampled. */
  heap?: { firstHalfPeakMb: number; secondHalfPeakMb: number; growthPercent: number };
  /** How the relay noticed the drops, from its log. */
  dropsNoticed?: RelayFigures["dropsNoticed"];
  socketsClosed: boolean;
  noFramesLost: boolean;
  /** Upstream drops on purpose, and how long each call took to get its caller audio flowing again. */
  reconnects?: {
    drops: number;
    notReconnected: number;
    ms: Summary;
    allUnder2s: boolean;
    callsLost: number;
    gapFramesDropped: number;
  };
  samples: MemorySample[];
}

/**
 * Peak RSS growth between the two halves of the soak window, %. V8's heap grows in steps and
 * shrinks at a major GC, so RSS is a saw-tooth: a leak raises its peaks, while comparing single
 * samples would compare a trough with a crest.
 */
export function peakGrowthPercent(
  samples: MemorySample[],
  field: "rssMb" | "heapMb" = "rssMb",
): { first: number; second: number; growth: number } {
  const half = Math.floor(samples.length / 2);
  const first = Math.max(0, ...samples.slice(0, half).map((s) => s[field] ?? 0));
  const second = Math.max(0, ...samples.slice(half).map((s) => s[field] ?? 0));
  return { first, second, growth: first === 0 ? 0 : (100 * (second - first)) / first };
}

/** The verdicts on one soaked relay. */
function soakVerdict(figures: RelayFigures): SoakVerdict {
  const { first, second, growth } = peakGrowthPercent(figures.rssSamples);
  const heap = peakGrowthPercent(figures.rssSamples, "heapMb");
  return {
    firstHalfPeakMb: first,
    secondHalfPeakMb: second,
    growthPercent: growth,
    rssFlat: growth <= 5,
    ...(heap.first === 0 ? {} : {
      heap: { firstHalfPeakMb: heap.first, secondHalfPeakMb: heap.second, growthPercent: heap.growth },
    }),
    ...(figures.dropsNoticed === undefined ? {} : { dropsNoticed: figures.dropsNoticed }),
    socketsClosed: figures.load.upstream.openAfterHangup === 0,
    noFramesLost: figures.framesLost.up === 0 && figures.framesLost.down === 0,
    samples: figures.rssSamples,
    ...(figures.reconnects === undefined ? {} : {
      reconnects: {
        drops: figures.reconnects.drops,
        notReconnected: figures.reconnects.pending,
        ms: figures.reconnects.ms,
        allUnder2s: figures.reconnects.pending === 0 && figures.reconnects.ms.max < 2000,
        callsLost: figures.failures.length,
        gapFramesDropped: figures.frames.up.lost,
      },
    }),
  };
}

/** The verdicts in words, one paragraph each. */
export function soakMarkdown(soak: SoakVerdict): string[] {
  const gc = soak.heap === undefined ? "" : ", each sampled right after a full GC";
  return [
    `Soak: peak RSS${gc} ${f1(soak.firstHalfPeakMb)} MB in the first half of the window (after warm-up), ` +
    `${f1(soak.secondHalfPeakMb)} MB in the second (${f1(soak.growthPercent)} %, target ≤ 5 %: ` +
    `${mark(soak.rssFlat)}); every upstream socket closed after its call: ${mark(soak.socketsClosed)}; ` +
    `0 frames lost: ${mark(soak.noFramesLost)}.`,
    ...(soak.reconnects === undefined ? [] : [
      "",
      `Upstream drops: ${soak.reconnects.drops}; drop → caller audio flowing on a new session ms ` +
      `p50/p99/max ${f1(soak.reconnects.ms.p50)} / ${f1(soak.reconnects.ms.p99)} / ${
        f1(soak.reconnects.ms.max)
      }; ` +
      `not reconnected: ${soak.reconnects.notReconnected}; every reconnect under 2 s: ${
        mark(soak.reconnects.allUnder2s)
      }; ` +
      `calls lost: ${soak.reconnects.callsLost} (${mark(soak.reconnects.callsLost === 0)}); caller frames ` +
      `dropped in the gaps on purpose: ${soak.reconnects.gapFramesDropped}.`,
    ]),
    ...(soak.dropsNoticed === undefined ? [] : [
      "",
      `How Parley noticed the drops (its log): a close from the server ${soak.dropsNoticed.byClose}, ` +
      `an abnormal close (1006: no close frame, a lost connection or the keepalive) ${soak.dropsNoticed.byAbnormalClose}, the 15 s stall watch ${soak.dropsNoticed.byStallWatch}.`,
    ]),
    ...(soak.heap === undefined ? [] : [
      "",
      `V8 heap after a full GC: peak ${f1(soak.heap.firstHalfPeakMb)} MB in the first half, ` +
      `${f1(soak.heap.secondHalfPeakMb)} MB in the second (${f1(soak.heap.growthPercent)} %).`,
    ]),
    "",
    `Memory samples (s → RSS MB${soak.heap === undefined ? "" : " / heap MB after GC"}): ${
      soak.samples.map((s) => `${s.atS}→${f1(s.rssMb)}${s.heapMb === undefined ? "" : `/${f1(s.heapMb)}`}`)
        .join(", ")
    }`,
  ];
}

/** The soak's verdicts on the Parley run, printed; `failed` when one of them is not met. */
export function runSoak(runs: RunFigures[]): { soak: SoakVerdict | undefined; failed: boolean } {
  const soaked = runs[0]?.relays.parley;
  if (soaked === undefined) return { soak: undefined, failed: false };
  const soak = soakVerdict(soaked);
  console.log("");
  for (const line of soakMarkdown(soak)) console.log(line);
  let failed = false;
  if (!soak.rssFlat || !soak.socketsClosed) failed = true;
  if (soak.reconnects !== undefined && (!soak.reconnects.allUnder2s || soak.reconnects.callsLost > 0)) {
    failed = true;
  }
  return { soak, failed };
}
