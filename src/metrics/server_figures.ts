/**
 * The server's own figures on `/metrics`, beyond the call events: admission (active calls, the
 * cluster, draining, refusals, pre-warms), the call store's write queue, the listener and the campaign
 * dialer's loop.
 *
 * @module
 */

import type { StoreHealth } from "../store/call_record.ts";
import type { ListenerHealth } from "../http/listener.ts";
import { PREWARM_OUTCOMES, type PrewarmOutcome } from "../relay/prewarm.ts";
import type { Exposition } from "./exposition.ts";
import type { DialerFigures } from "../dialer/dialer.ts";

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
  /** The campaign dialer's passes, finished and failed (undefined without a store, so without a dialer). */
  dialer?: DialerFigures | undefined;
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

/** Active calls, the cluster, draining, refused calls and streams, pre-warms. */
export function writeAdmissionFigures(x: Exposition, activeCalls: number, server: ServerFigures): void {
  x.family("parley_active_calls", "gauge", "Calls being relayed now.");
  x.sample("parley_active_calls", activeCalls);

  if (server.cluster !== undefined) {
    x.family(
      "parley_instance_info",
      "gauge",
      "This instance's INSTANCE_ID (several instances on one database).",
    );
    x.sample("parley_instance_info", 1, { instance: server.cluster.instance });
    x.family(
      "parley_cluster_live_calls",
      "gauge",
      "Calls started and not ended, on every instance of the cluster.",
    );
    x.sample("parley_cluster_live_calls", server.cluster.liveCalls);
    x.family("parley_cluster_instances", "gauge", "Instances whose heartbeat is within INSTANCE_TIMEOUT_S.");
    x.sample("parley_cluster_instances", server.cluster.instances);
  }

  x.family("parley_draining", "gauge", "1 while the server drains after SIGTERM/SIGINT (no new calls).");
  x.sample("parley_draining", server.draining === true ? 1 : 0);
  x.family(
    "parley_calls_refused_total",
    "counter",
    "Calls answered with the fallback and no stream, by reason.",
  );
  for (const reason of ["capacity", "draining"]) {
    x.sample("parley_calls_refused_total", server.refusedCalls?.[reason] ?? 0, { reason });
  }
  x.family(
    "parley_streams_refused_total",
    "counter",
    "Media sockets refused: stream token missing, forged, expired, replayed or for another call.",
  );
  x.sample("parley_streams_refused_total", server.refusedStreams ?? 0);
  x.family(
    "parley_prewarm_total",
    "counter",
    "Sessions pre-warmed on the voice webhook (opened), and what became of them: claimed by their stream, " +
      "missed (a stream this instance did not pre-warm), expired unclaimed, discarded (unfit at start), elsewhere (closed: the stream started on another instance).",
  );
  for (const outcome of PREWARM_OUTCOMES) {
    x.sample("parley_prewarm_total", server.prewarms?.outcomes[outcome] ?? 0, { outcome });
  }
  x.family("parley_prewarm_waiting", "gauge", "Pre-warmed sessions waiting for their stream to start.");
  x.sample("parley_prewarm_waiting", server.prewarms?.waiting ?? 0);
}

/** The call store's write queue and the listener's descriptors. */
export function writeStorageFigures(x: Exposition, server: ServerFigures): void {
  x.family("parley_store_pending_events", "gauge", "Call events waiting to be written to the call database.");
  x.sample("parley_store_pending_events", server.store?.pendingEvents ?? 0);
  x.family(
    "parley_store_dropped_events_total",
    "counter",
    "Call events dropped because the database failed for too long (queue full).",
  );
  x.sample("parley_store_dropped_events_total", server.store?.droppedEvents ?? 0);
  x.family("parley_store_failing", "gauge", "1 while writes to the call database fail (locked, disk full).");
  x.sample("parley_store_failing", server.store?.failing === true ? 1 : 0);

  x.family(
    "parley_fd_exhaustion_total",
    "counter",
    "Episodes of running out of file descriptors: new connections refused until some closed.",
  );
  x.sample("parley_fd_exhaustion_total", server.listener?.exhaustionEpisodes ?? 0);
  x.family(
    "parley_listener_restarts_total",
    "counter",
    "Times the listener stopped on an accept error (out of descriptors) and was opened again.",
  );
  x.sample("parley_listener_restarts_total", server.listener?.acceptFailures ?? 0);
  x.family("parley_accepting", "gauge", "1 while new connections are accepted, 0 while they are shed.");
  x.sample("parley_accepting", server.listener?.accepting === false ? 0 : 1);
}

/** The campaign dialer's loop: passes finished, and those that failed (left out without a dialer). */
export function writeDialerFigures(x: Exposition, server: ServerFigures): void {
  if (server.dialer === undefined) return;
  x.family(
    "parley_dialer_passes_total",
    "counter",
    "Passes of the campaign dialer finished on this instance (each looked for due leads in every running campaign, failed ones included).",
  );
  x.sample("parley_dialer_passes_total", server.dialer.passes);
  x.family(
    "parley_dialer_pass_failures_total",
    "counter",
    "Passes of the campaign dialer that ended on an error (logged; the next pass tries again).",
  );
  x.sample("parley_dialer_pass_failures_total", server.dialer.failedPasses);
}
