/**
 * `GET /metrics`: the Prometheus exposition. Behind the route table's `bearerUnlessPublic` guard:
 * `Authorization: Bearer <API_TOKEN>` unless `METRICS_PUBLIC=on`; with neither set, 503.
 *
 * @module
 */

import type { RelayCounters } from "../calls/relay_counters.ts";
import { type Metrics } from "../metrics/metrics.ts";
import { type ClusterFigures, type ServerFigures } from "../metrics/server_figures.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../metrics/exposition.ts";

/** Options for {@linkcode createMetricsHandler}. */
export interface MetricsRouteOptions {
  /** The metrics fed from the hub. */
  metrics: Pick<Metrics, "render">;
  /** The relay's process-wide counters, read on each scrape. */
  counters: RelayCounters;
  /** Calls being relayed now, read on each scrape. */
  activeCalls: () => number;
  /** The server's own figures (store queue, refusals, draining), read on each scrape. */
  server?: () => ServerFigures;
  /** The cluster's figures from the shared database (undefined when it cannot be read now). */
  cluster?: () => Promise<ClusterFigures | undefined>;
}

/**
 * Builds the `/metrics` handler; route `GET /metrics` to it.
 *
 * @example
 * ```ts
 * const metricsRoute = createMetricsHandler({
 *   metrics, counters, activeCalls: () => relays.size,
 * });
 * // in the route table: { method: "GET", path: "/metrics", guard: "bearerUnlessPublic", … }
 * ```
 */
export function createMetricsHandler(options: MetricsRouteOptions): (req: Request) => Promise<Response> {
  return async () => {
    const cluster = await options.cluster?.();
    const server = options.server?.();
    const figures = cluster === undefined ? server : { ...server, cluster };
    const text = options.metrics.render(options.counters, options.activeCalls(), figures);
    return textResponse(200, text, { "content-type": PROMETHEUS_CONTENT_TYPE });
  };
}

function textResponse(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(text, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}
