/**
 * Parley's Prometheus metrics, kept in memory from the call events and written by hand in the text
 * exposition format (`exposition.ts`): the server's own figures (`server_figures.ts`), the call
 * events' tallies (`call_tallies.ts`) and the relay's counters (`relay_figures.ts`), in that order.
 *
 * @module
 */

import type { CallEventListener } from "../calls/call_events.ts";
import type { RelayCounters } from "../calls/relay_counters.ts";
import { DEFAULT_PRICES, type PriceTable } from "../engines/prices.ts";
import { Exposition } from "./exposition.ts";
import { CallTallies } from "./call_tallies.ts";
import {
  type ServerFigures,
  writeAdmissionFigures,
  writeDialerFigures,
  writeStorageFigures,
} from "./server_figures.ts";
import { writeRelayCounters } from "./relay_figures.ts";

export { escapeLabelValue, PROMETHEUS_CONTENT_TYPE } from "./exposition.ts";
export { CONNECT_TIME_BUCKETS, TURN_LATENCY_BUCKETS, UNPLAYED_AUDIO_BUCKETS } from "./call_tallies.ts";
export type { ClusterFigures, ServerFigures } from "./server_figures.ts";

/** Options for {@linkcode createMetrics}. */
export interface MetricsOptions {
  /** Prices for the cost total. @default DEFAULT_PRICES */
  prices?: PriceTable;
}

/** The metrics: feed `listener` from the hub, serve `render(...)` on `/metrics`. */
export interface Metrics {
  /** Subscribe to every call: `hub.subscribe(metrics.listener)`. Never throws. */
  readonly listener: CallEventListener;
  /** The exposition text, with the relay counters and the active call count read at call time. */
  render(counters: RelayCounters, activeCalls: number, server?: ServerFigures): string;
}

/**
 * Builds the metrics.
 *
 * @example
 * ```ts
 * const metrics = createMetrics({ prices });
 * hub.subscribe(metrics.listener);
 * const text = metrics.render(counters, relays.size);
 * ```
 */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const tallies = new CallTallies(options.prices ?? DEFAULT_PRICES);
  const render = (counters: RelayCounters, activeCalls: number, server: ServerFigures = {}): string => {
    const x = new Exposition();
    writeAdmissionFigures(x, activeCalls, server);
    writeStorageFigures(x, server);
    writeDialerFigures(x, server);
    tallies.writeEndsAndLatency(x);
    writeRelayCounters(x, counters);
    tallies.writeUsage(x);
    return x.text();
  };
  return { listener: tallies.listener, render };
}
