/**
 * The dialer's loop looks for due leads often while a campaign runs, and rarely while none does: an
 * idle server does not read the store four times a second. A campaign started through the API wakes
 * it (`tick()`), and it is back on the busy cadence at once. Real timers, scaled down.
 */

import assert from "node:assert/strict";
import { CallHub } from "../../src/calls/call_hub.ts";
import { Dialer } from "../../src/dialer/dialer.ts";
import { createLogger } from "../../src/log.ts";
import type { Campaign } from "../../src/store/campaign.ts";
import type { Campaigns, DoNotCallList } from "../../src/store/ports.ts";
import { within } from "../../testing/within.ts";
import { watchLoopLag } from "../../testing/loop_lag.ts";

const TICK_MS = 20;
const IDLE_TICK_MS = 1_000;

/** A store whose campaigns are `listed()`, every other read empty, and which counts `list()` calls. */
function countingCampaigns(listed: () => Campaign[]) {
  const calls: number[] = [];
  let waiter: { count: number; resolve: () => void } | undefined;
  const campaigns = new Proxy({}, {
    get: (_, name) => {
      if (name === "list") {
        return () => {
          calls.push(performance.now());
          if (waiter !== undefined && calls.length >= waiter.count) waiter.resolve();
          return Promise.resolve(listed());
        };
      }
      if (name === "leads" || name === "openAttempts" || name === "claim") return () => Promise.resolve([]);
      return () => Promise.resolve(undefined);
    },
  }) as Campaigns;
  /** Resolves once `list()` was called `count` times in all. */
  const listedTimes = (count: number) => {
    if (calls.length >= count) return Promise.resolve();
    return new Promise<void>((resolve) => waiter = { count, resolve });
  };
  return { campaigns, calls, listedTimes };
}

Deno.test("the dialer looks rarely while no campaign runs, and at its busy cadence as soon as one is started", async () => {
  let running: Campaign[] = [];
  const { campaigns, calls, listedTimes } = countingCampaigns(() => running);
  const dialer = new Dialer({
    campaigns,
    doNotCall: { has: () => Promise.resolve(false) } as unknown as DoNotCallList,
    instance: "test-host",
    placeCall: () => Promise.reject(new Error("no lead is due")),
    refuseOutbound: () => undefined,
    hub: new CallHub(),
    log: createLogger({ sink: () => {} }),
    tickMs: TICK_MS,
    idleTickMs: IDLE_TICK_MS,
  });
  try {
    await dialer.start();
    // The first pass after the busy tick finds nothing; then the idle cadence.
    await within(listedTimes(3), "three idle passes", 5_000);
    const idleGap = calls[2]! - calls[1]!;
    assert.ok(idleGap >= IDLE_TICK_MS - 5, `an idle pass ${idleGap.toFixed(0)} ms after the last`);

    // Into the idle wait (that pass over, the next a long way off), a campaign is started and the API
    // wakes the dialer: passes come every TICK_MS again at once, not after the idle wait.
    await new Promise((resolve) => setTimeout(resolve, IDLE_TICK_MS / 4));
    running = [{ id: 1, state: "running", maxConcurrent: 1, callsPerSecond: 1 } as Campaign];
    const lag = watchLoopLag();
    try {
      const wokenAt = performance.now();
      await dialer.tick();
      const before = calls.length;
      await within(listedTimes(before + 3), "three busy passes", 5_000);
      const busyMs = performance.now() - wokenAt;
      // On a loaded machine the process may stall meanwhile: that much is allowed for, no more.
      const stalledMs = lag.take();
      assert.ok(
        busyMs - stalledMs < IDLE_TICK_MS / 2,
        `three more passes ${busyMs.toFixed(0)} ms after the wake (the process stalled ${
          stalledMs.toFixed(0)
        } ms)`,
      );
    } finally {
      lag.stop();
    }
  } finally {
    dialer.close();
  }
});
