/**
 * Parley's Prometheus metrics, kept in memory from the call events and written by hand in the text
 * exposition format (version 0.0.4): `# HELP` / `# TYPE` lines, escaped label values, histograms as
 * cumulative `_bucket{le="…"}` series ending in `+Inf`, then `_sum` and `_count`.
 *
 * The turn latency histogram observes the same figure as the call record's p50/p95: the heard latency,
 * or the sent latency for a turn whose playback Twilio never confirmed.
 *
 * @module
 */

import {
  type CallEvent,
  type CallEventListener,
  END_REASONS,
  type RelayCounters,
} from "../calls/call_events.ts";
import { engineForModel, type EngineId, ENGINES } from "../engines/voices.ts";
import type { StoreHealth } from "../store/call_record.ts";
import type { ListenerHealth } from "../http/listener.ts";
import { PREWARM_OUTCOMES, type PrewarmOutcome } from "../relay/prewarm.ts";
import { DEFAULT_PRICES, type PriceTable } from "../engines/prices.ts";
import { ENGINE_REGISTRY } from "../engines/registry.ts";

/** Content type of {@linkcode Metrics.render}'s output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Turn latency buckets, seconds: fine between 0.1 and 3 s, where voice agents live. */
export const TURN_LATENCY_BUCKETS: readonly number[] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5];
/** Upstream connect time buckets, seconds. */
export const CONNECT_TIME_BUCKETS: readonly number[] = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5];
/** Unplayed agent audio when the model stopped (GPT-Live), seconds; above 0.2 s is worth a `clear`. */
export const UNPLAYED_AUDIO_BUCKETS: readonly number[] = [0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

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

/** What the server knows beyond the call events, read on each scrape (see the README's "Reliability"). */
export interface ServerFigures {
  /** The call store's write queue. */
  store?: StoreHealth;
  /** Calls refused at the webhook, by reason (`capacity`, `draining`). */
  refusedCalls?: Readonly<Record<string, number>>;
  /** Media sockets refused for a missing, bad, expired or replayed stream token. */
  refusedStreams?: number;
  /** True while the server drains after SIGTERM/SIGINT. */
  draining?: boolean;
  /** Sessions pre-warmed on the webhook, by outcome, and how many wait for their stream now. */
  prewarms?: { outcomes: Readonly<Record<PrewarmOutcome, number>>; waiting: number };
  /** The listener: descriptor exhaustion episodes, accept failures, descriptors open and allowed. */
  listener?: ListenerHealth | undefined;
  /** Several instances on one database: the whole cluster's figures (undefined on SQLite, or unreadable now). */
  cluster?: ClusterFigures | undefined;
}

/** The cluster's figures, read from the shared database on each scrape. */
export interface ClusterFigures {
  /** This instance's `INSTANCE_ID`. */
  instance: string;
  /** Calls started and not ended, on every instance. */
  liveCalls: number;
  /** Instances whose heartbeat is within the timeout. */
  instances: number;
}

class Histogram {
  readonly bounds: readonly number[];
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.sum += value;
    this.count++;
    const index = this.bounds.findIndex((bound) => value <= bound);
    if (index >= 0) this.counts[index]!++;
  }
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
  const prices = options.prices ?? DEFAULT_PRICES;
  const ended = new Map<string, number>(END_REASONS.map((reason) => [reason, 0]));
  const turnLatency = new Histogram(TURN_LATENCY_BUCKETS);
  const connectTime = new Histogram(CONNECT_TIME_BUCKETS);
  let interruptions = 0;
  let responses = 0;
  let unpricedResponses = 0;
  let costUsd = 0;
  const unplayedAtStop = new Histogram(UNPLAYED_AUDIO_BUCKETS);
  const byEngine = new Map<EngineId, { calls: number; minutes: number; costUsd: number }>(
    ENGINES.map((engine) => [engine, { calls: 0, minutes: 0, costUsd: 0 }]),
  );
  /** Minutes and cost so far per call whose engine reports totals (cumulative reports). */
  const callTotals = new Map<string, { minutes: number; costUsd: number }>();

  const listener = (event: CallEvent): void => {
    switch (event.type) {
      case "call.started":
        byEngine.get(event.engine ?? engineForModel(event.model))!.calls++;
        break;
      case "call.ended":
        ended.set(event.reason, (ended.get(event.reason) ?? 0) + 1);
        callTotals.delete(event.callSid);
        break;
      case "agent.stopped":
        unplayedAtStop.observe(event.unplayedMs / 1000);
        break;
      case "turn.latency":
        turnLatency.observe((event.firstAudioHeardMs ?? event.firstAudioSentMs) / 1000);
        break;
      case "upstream.connected":
        connectTime.observe(event.connectMs / 1000);
        break;
      case "interruption":
        interruptions++;
        break;
      case "call.analyzed":
        // The post-call analysis's own tokens are part of the cost (not of an engine's).
        if (event.state === "done" && event.costUsd !== null) costUsd += event.costUsd;
        break;
      case "usage": {
        // The engine's own rules read its report (`src/engines/<engine>/usage.ts`).
        const summary = ENGINE_REGISTRY.describeUsage(event.engine, event.usage);
        const price = ENGINE_REGISTRY.priceUsage(event.engine, event.model, event.usage, prices);
        const engine = byEngine.get(event.engine)!;
        if (summary.response !== undefined) responses++;
        const before = callTotals.get(event.callSid) ?? { minutes: 0, costUsd: 0 };
        const minutes = Math.max(before.minutes, summary.minutes ?? 0);
        engine.minutes += minutes - before.minutes;
        let added: number;
        if (summary.cost === "increment") {
          if (price === null) unpricedResponses++;
          added = price ?? 0;
        } else {
          // A total so far: the call's cost grows to it (an unknown price keeps the last known).
          added = Math.max(0, (price ?? before.costUsd) - before.costUsd);
        }
        engine.costUsd += added;
        costUsd += added;
        if (summary.cost === "total" || summary.minutes !== undefined) {
          callTotals.set(event.callSid, { minutes, costUsd: before.costUsd + added });
        }
        break;
      }
    }
  };

  const render = (counters: RelayCounters, activeCalls: number, server: ServerFigures = {}): string => {
    const out: string[] = [];
    const family = (name: string, type: string, help: string) => {
      out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    };
    const sample = (name: string, value: number, labels: Record<string, string> = {}) => {
      out.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
    };
    const histogram = (name: string, help: string, h: Histogram) => {
      family(name, "histogram", help);
      let cumulative = 0;
      h.bounds.forEach((bound, i) => {
        cumulative += h.counts[i]!;
        sample(`${name}_bucket`, cumulative, { le: formatValue(bound) });
      });
      sample(`${name}_bucket`, h.count, { le: "+Inf" });
      sample(`${name}_sum`, h.sum);
      sample(`${name}_count`, h.count);
    };

    family("parley_active_calls", "gauge", "Calls being relayed now.");
    sample("parley_active_calls", activeCalls);

    if (server.cluster !== undefined) {
      family(
        "parley_instance_info",
        "gauge",
        "This instance's INSTANCE_ID (several instances on one database).",
      );
      sample("parley_instance_info", 1, { instance: server.cluster.instance });
      family(
        "parley_cluster_live_calls",
        "gauge",
        "Calls started and not ended, on every instance of the cluster.",
      );
      sample("parley_cluster_live_calls", server.cluster.liveCalls);
      family("parley_cluster_instances", "gauge", "Instances whose heartbeat is within INSTANCE_TIMEOUT_S.");
      sample("parley_cluster_instances", server.cluster.instances);
    }

    family("parley_draining", "gauge", "1 while the server drains after SIGTERM/SIGINT (no new calls).");
    sample("parley_draining", server.draining === true ? 1 : 0);
    family(
      "parley_calls_refused_total",
      "counter",
      "Calls answered with the fallback and no stream, by reason.",
    );
    for (const reason of ["capacity", "draining"]) {
      sample("parley_calls_refused_total", server.refusedCalls?.[reason] ?? 0, { reason });
    }
    family(
      "parley_streams_refused_total",
      "counter",
      "Media sockets refused: stream token missing, forged, expired, replayed or for another call.",
    );
    sample("parley_streams_refused_total", server.refusedStreams ?? 0);
    family(
      "parley_prewarm_total",
      "counter",
      "Sessions pre-warmed on the voice webhook (opened), and what became of them: claimed by their stream, " +
        "missed (a stream this instance did not pre-warm), expired unclaimed, discarded (unfit at start), elsewhere (closed: the stream started on another instance).",
    );
    for (const outcome of PREWARM_OUTCOMES) {
      sample("parley_prewarm_total", server.prewarms?.outcomes[outcome] ?? 0, { outcome });
    }
    family("parley_prewarm_waiting", "gauge", "Pre-warmed sessions waiting for their stream to start.");
    sample("parley_prewarm_waiting", server.prewarms?.waiting ?? 0);
    family("parley_store_pending_events", "gauge", "Call events waiting to be written to the call database.");
    sample("parley_store_pending_events", server.store?.pendingEvents ?? 0);
    family(
      "parley_store_dropped_events_total",
      "counter",
      "Call events dropped because the database failed for too long (queue full).",
    );
    sample("parley_store_dropped_events_total", server.store?.droppedEvents ?? 0);
    family("parley_store_failing", "gauge", "1 while writes to the call database fail (locked, disk full).");
    sample("parley_store_failing", server.store?.failing === true ? 1 : 0);

    family(
      "parley_fd_exhaustion_total",
      "counter",
      "Episodes of running out of file descriptors: new connections refused until some closed.",
    );
    sample("parley_fd_exhaustion_total", server.listener?.exhaustionEpisodes ?? 0);
    family(
      "parley_listener_restarts_total",
      "counter",
      "Times the listener stopped on an accept error (out of descriptors) and was opened again.",
    );
    sample("parley_listener_restarts_total", server.listener?.acceptFailures ?? 0);
    family("parley_accepting", "gauge", "1 while new connections are accepted, 0 while they are shed.");
    sample("parley_accepting", server.listener?.accepting === false ? 0 : 1);

    family("parley_calls_ended_total", "counter", "Calls ended, by end reason.");
    for (const [reason, count] of ended) sample("parley_calls_ended_total", count, { reason });

    histogram(
      "parley_turn_latency_seconds",
      "Caller stops speaking to agent audio heard (sent, when playback was never confirmed).",
      turnLatency,
    );
    histogram("parley_upstream_connect_seconds", "Time to open the OpenAI socket.", connectTime);

    family("parley_frames_relayed_total", "counter", "Media frames relayed, by direction.");
    sample("parley_frames_relayed_total", counters.framesToOpenai, { direction: "to_openai" });
    sample("parley_frames_relayed_total", counters.framesToTwilio, { direction: "to_twilio" });

    family("parley_malformed_frames_total", "counter", "Frames dropped because they could not be parsed.");
    sample("parley_malformed_frames_total", counters.malformedFrames);
    family("parley_truncations_total", "counter", "Agent answers truncated after an interruption.");
    sample("parley_truncations_total", counters.truncations);
    family(
      "parley_stale_deltas_dropped_total",
      "counter",
      "Audio deltas of an interrupted answer dropped in flight.",
    );
    sample("parley_stale_deltas_dropped_total", counters.staleDeltasDropped);
    family(
      "parley_caller_frames_dropped_total",
      "counter",
      "Caller frames not sent upstream, by reason: queue (over ~2 s before the upstream was ready), " +
        "backpressure, ahead (faster than real time), gap (during a reconnect), foreign_stream.",
    );
    const drops = counters.callerFramesDropped;
    sample("parley_caller_frames_dropped_total", drops.queue, { reason: "queue" });
    sample("parley_caller_frames_dropped_total", drops.backpressure, { reason: "backpressure" });
    sample("parley_caller_frames_dropped_total", drops.ahead, { reason: "ahead" });
    sample("parley_caller_frames_dropped_total", drops.gap, { reason: "gap" });
    sample("parley_caller_frames_dropped_total", drops.foreignStream, { reason: "foreign_stream" });
    family("parley_reconnects_total", "counter", "Upstream sessions replaced mid-call, by cause.");
    for (const [cause, count] of Object.entries(counters.reconnects)) {
      sample("parley_reconnects_total", count, { cause });
    }
    family("parley_reconnects_failed_total", "counter", "Calls ended because every reconnect try failed.");
    sample("parley_reconnects_failed_total", counters.reconnectsFailed);
    family("parley_interruptions_total", "counter", "Times the caller talked over the agent.");
    sample("parley_interruptions_total", interruptions);

    family("parley_responses_total", "counter", "Realtime responses with a usage report.");
    sample("parley_responses_total", responses);
    family(
      "parley_unpriced_responses_total",
      "counter",
      "Responses of a model without a price (not in the cost).",
    );
    sample("parley_unpriced_responses_total", unpricedResponses);
    family(
      "parley_estimated_cost_usd_total",
      "counter",
      "Estimated OpenAI cost of all priced responses, session minutes and post-call analyses, USD.",
    );
    sample("parley_estimated_cost_usd_total", costUsd);

    family("parley_calls_started_total", "counter", "Calls started, by engine (realtime or live).");
    for (const [engine, e] of byEngine) sample("parley_calls_started_total", e.calls, { engine });
    family("parley_session_minutes_total", "counter", "Session minutes of engines billed by the minute.");
    for (const [engine, e] of byEngine) sample("parley_session_minutes_total", e.minutes, { engine });
    family("parley_engine_estimated_cost_usd_total", "counter", "Estimated OpenAI cost by engine, USD.");
    for (const [engine, e] of byEngine) {
      sample("parley_engine_estimated_cost_usd_total", e.costUsd, { engine });
    }
    histogram(
      "parley_unplayed_audio_at_stop_seconds",
      "Agent audio still unplayed at Twilio when the model stopped speaking (GPT-Live owns barge-in).",
      unplayedAtStop,
    );

    return out.join("\n") + "\n";
  };

  return { listener, render };
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
