/**
 * The process-wide counters every relay bumps on its hot path, read by `/metrics`.
 *
 * @module
 */

import type { CallerAudioDrops, ReconnectCause } from "./call_events.ts";

/** Process-wide counters the relay bumps on the hot path (read by `/metrics`). */
export interface RelayCounters {
  framesToOpenai: number;
  framesToTwilio: number;
  malformedFrames: number;
  truncations: number;
  staleDeltasDropped: number;
  /** Caller frames dropped, by reason. */
  callerFramesDropped: CallerAudioDrops;
  /** Upstream sessions replaced mid-call, by cause. */
  reconnects: Record<ReconnectCause, number>;
  /** Calls whose reconnect tries all failed. */
  reconnectsFailed: number;
}

/** Fresh zeroed counters. */
export function createRelayCounters(): RelayCounters {
  return {
    framesToOpenai: 0,
    framesToTwilio: 0,
    malformedFrames: 0,
    truncations: 0,
    staleDeltasDropped: 0,
    callerFramesDropped: { queue: 0, backpressure: 0, ahead: 0, gap: 0, foreignStream: 0 },
    reconnects: { dropped: 0, stalled: 0, rollover: 0 },
    reconnectsFailed: 0,
  };
}
