/**
 * `/metrics` shows the campaign dialer's loop: `parley_dialer_passes_total` counts the passes it
 * finished (each looked for due leads, whether or not it placed a call; one that failed too), and
 * `parley_dialer_pass_failures_total` those that ended on an error. An operator reads whether the
 * dialer is alive from it; once the dialer is closed it stops moving.
 */

import assert from "node:assert/strict";
import { CallHub } from "../../src/calls/call_hub.ts";
import { Dialer } from "../../src/dialer/dialer.ts";
import { createLogger } from "../../src/log.ts";
import type { Campaign } from "../../src/store/campaign.ts";
import type { Campaigns, DoNotCallList } from "../../src/store/ports.ts";
import { startTestParley, type TestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";

const API_TOKEN = "dialer-metric-api-token-0123456789";
const TICK_MS = 10;
const RUNNING = { id: 1, state: "running", maxConcurrent: 1, callsPerSecond: 1 } as Campaign;
const NO_DNC = { has: () => Promise.resolve(false) } as unknown as DoNotCallList;

/**
 * A store listing `listed()` (and failing while `failing` holds), every other read empty; `listedTimes`
 * resolves once `list()` was called that many times in all.
 */
function fakeCampaigns(listed: () => Campaign[]) {
  const state = { failing: false, lists: 0, failure: "the store is down" };
  let waiter: { count: number; resolve: () => void } | undefined;
  const campaigns = new Proxy({}, {
    get: (_, name) => {
      if (name === "list") {
        return () => {
          state.lists++;
          if (waiter !== undefined && state.lists >= waiter.count) waiter.resolve();
          return state.failing ? Promise.reject(new Error(state.failure)) : Promise.resolve(listed());
        };
      }
      if (name === "leads" || name === "openAttempts" || name === "claim") return () => Promise.resolve([]);
      return () => Promise.resolve(undefined);
    },
  }) as Campaigns;
  const listedTimes = (count: number) =>
    state.lists >= count ? Promise.resolve() : new Promise<void>((resolve) => waiter = { count, resolve });
  return { campaigns, state, listedTimes };
}

/** The dialer's two counters as `GET /metrics` shows them (with the API token). */
async function dialerPasses(t: TestParley): Promise<{ passes: number; failures: number }> {
  const response = await fetch(`${t.origin}/metrics`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
  assert.equal(response.status, 200);
  const text = await response.text();
  const sample = (name: string) => {
    assert.match(text, new RegExp(`^# TYPE ${name} counter$`, "m"), `${name}'s TYPE line`);
    assert.match(text, new RegExp(`^# HELP ${name} \\S`, "m"), `${name}'s HELP line`);
    const found = [...text.matchAll(new RegExp(`^${name} (\\d+)$`, "gm"))];
    assert.equal(found.length, 1, `one ${name} sample in:\n${text}`);
    return Number(found[0]![1]);
  };
  return {
    passes: sample("parley_dialer_passes_total"),
    failures: sample("parley_dialer_pass_failures_total"),
  };
}

Deno.test("/metrics counts the dialer's finished passes, with or without a campaign, the failed ones apart", async () => {
  let listed: Campaign[] = [];
  const store = fakeCampaigns(() => listed);
  const t = await startTestParley({
    env: { API_TOKEN },
    campaigns: { campaigns: store.campaigns, doNotCall: NO_DNC, instance: "test-host", tickMs: 0 },
  });
  try {
    const dialer = t.parley.dialer!;
    // Its loop is off (tickMs 0): only the ticks below run passes.
    assert.deepEqual(await dialerPasses(t), { passes: 0, failures: 0 });
    await dialer.tick();
    assert.deepEqual(await dialerPasses(t), { passes: 1, failures: 0 }, "a pass that found no campaign");

    listed = [RUNNING];
    // A tick while a pass runs asks for one more after it: two passes.
    await Promise.all([dialer.tick(), dialer.tick()]);
    assert.deepEqual(await dialerPasses(t), { passes: 3, failures: 0 }, "two passes over a running campaign");

    store.state.failing = true;
    await assert.rejects(dialer.tick(), /the store is down/);
    assert.deepEqual(await dialerPasses(t), { passes: 4, failures: 1 }, "a failed pass counts, and apart");

    store.state.failing = false;
    await dialer.tick();
    assert.deepEqual(await dialerPasses(t), { passes: 5, failures: 1 });
  } finally {
    await t.close();
  }
});

Deno.test("the dialer's passes move on /metrics while its loop runs, and stop once it is closed", async () => {
  const store = fakeCampaigns(() => [RUNNING]);
  const t = await startTestParley({
    env: { API_TOKEN },
    campaigns: { campaigns: store.campaigns, doNotCall: NO_DNC, instance: "test-host", tickMs: TICK_MS },
  });
  // A second dialer on the same cadence is the yardstick: its passes show time enough went by.
  const yardstick = fakeCampaigns(() => [RUNNING]);
  const other = new Dialer({
    campaigns: yardstick.campaigns,
    doNotCall: NO_DNC,
    instance: "yardstick",
    placeCall: () => Promise.reject(new Error("no lead is due")),
    refuseOutbound: () => undefined,
    hub: new CallHub(),
    log: createLogger({ sink: () => {} }),
    tickMs: TICK_MS,
  });
  try {
    await within(store.listedTimes(4), "four passes of the running dialer", 10_000);
    // The fourth pass has begun (it ends within this turn: the store answers at once), so three ended.
    const running = await dialerPasses(t);
    assert.ok(running.passes >= 3, `passes ${running.passes} after four began`);
    assert.equal(running.failures, 0);

    t.parley.dialer!.close();
    const closed = await dialerPasses(t);
    // Asked for a pass after close() (a campaign started through the API as the server stops): none runs.
    await t.parley.dialer!.tick();
    t.parley.dialer!.wake();
    await other.start();
    await within(yardstick.listedTimes(6), "six passes of the yardstick dialer", 10_000);
    assert.deepEqual(await dialerPasses(t), closed, "no pass after close()");
  } finally {
    other.close();
    await t.close();
  }
});

Deno.test("a store that fails every pass is logged once an episode, not once a pass", async () => {
  const store = fakeCampaigns(() => [RUNNING]);
  store.state.failing = true;
  const lines: string[] = [];
  const dialer = new Dialer({
    campaigns: store.campaigns,
    doNotCall: NO_DNC,
    instance: "failing",
    placeCall: () => Promise.reject(new Error("no lead is due")),
    refuseOutbound: () => undefined,
    hub: new CallHub(),
    log: createLogger({ sink: (_level, line) => lines.push(line) }),
    tickMs: TICK_MS,
  });
  try {
    await dialer.start();
    await within(store.listedTimes(20), "twenty failed passes", 10_000);
    const failures = lines.filter((line) => line.includes("Dialer: the store is down"));
    assert.equal(failures.length, 1, lines.join("\n"));
    assert.ok(dialer.figures().failedPasses >= 19, "every failed pass still counted");
    // Another error within the run is logged, once.
    store.state.failure = "disk I/O error";
    await within(store.listedTimes(store.state.lists + 3), "failing otherwise", 10_000);
    assert.equal(lines.filter((line) => line.includes("Dialer: disk I/O error")).length, 1, lines.join("\n"));
    // It works again: said once, with how many failed; the next failure is a new episode, logged.
    const failed = dialer.figures().failedPasses;
    store.state.failing = false;
    store.state.failure = "the store is down";
    const from = store.state.lists;
    await within(store.listedTimes(from + 2), "passes that work", 10_000);
    const again = lines.filter((line) =>
      /Dialer: a pass worked again after (\d+) failed in a row/.test(line)
    );
    assert.equal(again.length, 1, lines.join("\n"));
    assert.ok(Number(/after (\d+) failed/.exec(again[0]!)![1]) >= failed);
    store.state.failing = true;
    await within(store.listedTimes(store.state.lists + 2), "failing again", 10_000);
    assert.equal(lines.filter((line) => line.includes("Dialer: the store is down")).length, 2);
  } finally {
    dialer.close();
  }
});
