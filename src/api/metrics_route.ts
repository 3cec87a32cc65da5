/**
 * `GET /metrics`: the Prometheus exposition. Behind `Authorization: Bearer <API_TOKEN>` unless
 * `METRICS_PUBLIC=on`; with neither set it answers 503 rather than serving the metrics to anyone.
 *
 * @module
 */

import { checkBearer } from "../http/auth.ts";
import type { RelayCounters } from "../calls/call_events.ts";
import { type Metrics, PROMETHEUS_CONTENT_TYPE, type ServerFigures } from "../metrics/metrics.ts";

/** Options for {@linkcode createMetricsHandler}. */
export interface MetricsRouteOptions {
  /** The metrics fed from the hub. */
  metrics: Pick<Metrics, "render">;
  /** The relay's process-wide counters, read on each scrape. */
  counters: RelayCounters;
  /** Calls being relayed now, read on each scrape. */
  activeCalls: () => number;
  /** The API token; scrapers send it as a bearer token. */
  apiToken: string | undefined;
  /** Serve without a token (`METRICS_PUBLIC=on`). */
  metricsPublic: boolean;
  /** The server's own figures (store queue, refusals, draining), read on each scrape. */
  server?: () => ServerFigures;
}

/**
 * Builds the `/metrics` handler; route `GET /metrics` to it.
 *
 * @example
 * ```ts
 * const metricsRoute = createMetricsHandler({
 *   metrics, counters, activeCalls: () => relays.size,
 *   apiToken: config.apiToken, metricsPublic: config.metricsPublic,
 * });
 * if (url.pathname === "/metrics") return metricsRoute(req);
 * ```
 */
export function createMetricsHandler(options: MetricsRouteOptions): (req: Request) => Response {
  return (req) => {
    if (req.method !== "GET") {
      return textResponse(405, `Method ${req.method} is not allowed here: use GET\n`, { allow: "GET" });
    }
    if (!options.metricsPublic) {
      if (options.apiToken === undefined) {
        return textResponse(
          503,
          "Metrics are off: set API_TOKEN (scrape with it as a bearer token) or METRICS_PUBLIC=on\n",
        );
      }
      if (!checkBearer(req, options.apiToken)) {
        return textResponse(401, "Missing or wrong bearer token: send Authorization: Bearer <API_TOKEN>\n", {
          "www-authenticate": 'Bearer realm="parley"',
        });
      }
    }
    const text = options.metrics.render(options.counters, options.activeCalls(), options.server?.());
    return textResponse(200, text, { "content-type": PROMETHEUS_CONTENT_TYPE });
  };
}

function textResponse(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(text, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}
