/**
 * The relay's process-wide counters on `/metrics`: frames relayed and dropped, truncations,
 * reconnects.
 *
 * @module
 */

import type { RelayCounters } from "../calls/relay_counters.ts";
import type { Exposition } from "./exposition.ts";

/** Writes the relay counters, read at scrape time. */
export function writeRelayCounters(x: Exposition, counters: RelayCounters): void {
  x.family("parley_frames_relayed_total", "counter", "Media frames relayed, by direction.");
  x.sample("parley_frames_relayed_total", counters.framesToOpenai, { direction: "to_openai" });
  x.sample("parley_frames_relayed_total", counters.framesToTwilio, { direction: "to_twilio" });

  x.family("parley_malformed_frames_total", "counter", "Frames dropped because they could not be parsed.");
  x.sample("parley_malformed_frames_total", counters.malformedFrames);
  x.family("parley_truncations_total", "counter", "Agent answers truncated after an interruption.");
  x.sample("parley_truncations_total", counters.truncations);
  x.family(
    "parley_stale_deltas_dropped_total",
    "counter",
    "Audio deltas of an interrupted answer dropped in flight.",
  );
  x.sample("parley_stale_deltas_dropped_total", counters.staleDeltasDropped);
  x.family(
    "parley_caller_frames_dropped_total",
    "counter",
    "Caller frames not sent upstream, by reason: queue (over ~2 s before the upstream was ready), " +
      "backpressure, ahead (faster than real time), gap (during a reconnect), foreign_stream.",
  );
  const drops = counters.callerFramesDropped;
  x.sample("parley_caller_frames_dropped_total", drops.queue, { reason: "queue" });
  x.sample("parley_caller_frames_dropped_total", drops.backpressure, { reason: "backpressure" });
  x.sample("parley_caller_frames_dropped_total", drops.ahead, { reason: "ahead" });
  x.sample("parley_caller_frames_dropped_total", drops.gap, { reason: "gap" });
  x.sample("parley_caller_frames_dropped_total", drops.foreignStream, { reason: "foreign_stream" });
  x.family("parley_reconnects_total", "counter", "Upstream sessions replaced mid-call, by cause.");
  for (const [cause, count] of Object.entries(counters.reconnects)) {
    x.sample("parley_reconnects_total", count, { cause });
  }
  x.family("parley_reconnects_failed_total", "counter", "Calls ended because every reconnect try failed.");
  x.sample("parley_reconnects_failed_total", counters.reconnectsFailed);
}
