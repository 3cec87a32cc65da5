/**
 * A GPT-Live call served by several sessions in turn costs the sum of them: each new session (after
 * the session cap, a drop, a rollover) reports its billed seconds from 0 again, and the call's record,
 * `GET /api/calls/:sid` and `/metrics` add them up rather than keep the last session's alone.
 */

import assert from "node:assert/strict";
import type { FakeLiveSession } from "../../testing/fake_live.ts";
import { startTestParley, type TestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { LIVE_PERSONA } from "./_reconnect.ts";

const API_TOKEN = "live-cost-test-token-0123456789abcdef";

/** Runs `body` against a Parley with a GPT-Live persona `sam`, a call store, an API token and public metrics. */
async function withLiveParley(
  env: Record<string, string>,
  body: (t: TestParley) => Promise<void>,
): Promise<void> {
  await withPersonaDir({ "sam.ts": LIVE_PERSONA }, async (dir) => {
    const dataDir = await Deno.makeTempDir();
    const store = openCallStore(`${dataDir}/parley.db`);
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "sam", METRICS_PUBLIC: "on", API_TOKEN, ...env },
      store,
      // No reports on a timer: each session reports exactly the seconds the test gives it.
      live: { usageIntervalMs: 0 },
    });
    try {
      await body(t);
    } finally {
      await t.close();
      store.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}

/** Has `session` report `seconds` billed so far and waits for the call's usage event it becomes. */
async function reportSeconds(t: TestParley, session: FakeLiveSession, seconds: number): Promise<void> {
  const before = new Set(t.events);
  session.billedSeconds = seconds;
  session.sendUsage();
  await within(t.waitForEvent("usage", (e) => !before.has(e)), `the usage report of ${seconds} s`);
}

/** The caller hangs up; returns the call's record as `GET /api/calls/:sid` serves it. */
async function hangUpAndRead(
  t: TestParley,
  call: { callSid: string; stop(): void; closed: Promise<unknown> },
): Promise<{ minutes: number; costUsd: number | null; reconnects: number }> {
  call.stop();
  await within(t.waitForEvent("call.ended", (e) => e.callSid === call.callSid), "the end");
  await within(call.closed, "the Twilio socket closing");
  const response = await fetch(`${t.origin}/api/calls/${call.callSid}`, {
    headers: { Authorization: `Bearer ${API_TOKEN}` },
  });
  assert.equal(response.status, 200);
  return await response.json();
}

/** The call's minutes and cost on `/metrics` (one call: the totals are its). */
async function metricFigures(t: TestParley): Promise<{ minutes: number; engineCost: number; cost: number }> {
  const text = await (await fetch(`${t.origin}/metrics`)).text();
  const read = (pattern: RegExp) => Number(pattern.exec(text)?.[1]);
  return {
    minutes: read(/^parley_session_minutes_total\{engine="live"\} (\S+)$/m),
    engineCost: read(/^parley_engine_estimated_cost_usd_total\{engine="live"\} (\S+)$/m),
    cost: read(/^parley_estimated_cost_usd_total (\S+)$/m),
  };
}

/** 60 s then 30 s at gpt-live-1.1's $0.05 a minute. */
const SUMMED = { minutes: 1.5, costUsd: 0.075 };

function assertSummed(
  record: { minutes: number; costUsd: number | null },
  metrics: { minutes: number; engineCost: number; cost: number },
): void {
  assert.deepEqual(
    { minutes: record.minutes, costUsd: record.costUsd },
    SUMMED,
    "the record adds up both sessions",
  );
  assert.deepEqual(
    metrics,
    { minutes: SUMMED.minutes, engineCost: SUMMED.costUsd, cost: SUMMED.costUsd },
    "/metrics agrees with the record",
  );
}

for (
  const [name, end] of [
    [
      "the server ends the first session at its cap (session.closed expired)",
      (s: FakeLiveSession) => s.closeSession("expired"),
    ],
    ["the first session drops mid-call (1011, no session.closed)", (s: FakeLiveSession) => s.drop()],
  ] as const
) {
  Deno.test(`GPT-Live cost: ${name}: the call costs 60 s + 30 s, not the second session's 30 s`, async () => {
    await withLiveParley({}, async (t) => {
      const call = await t.startCall({ persona: "sam" });
      const first = await within(t.live.session(0), "the first session");
      // Pre-warmed on the webhook: its reports count once the stream has started.
      await within(t.waitForEvent("call.started"), "the stream started");
      await within(first.waitFor("session.start"), "the first session started");
      await reportSeconds(t, first, 60);
      end(first);
      const second = await within(t.live.session(1), "the new session", 3000);
      await within(t.waitForEvent("reconnected"), "the reconnect");
      await within(second.waitFor("session.start"), "the new session started");
      await reportSeconds(t, second, 30);

      const record = await hangUpAndRead(t, call);
      assert.equal(record.reconnects, 1);
      assertSummed(record, await metricFigures(t));
    });
  });
}

Deno.test("GPT-Live cost: a session Parley replaces (rollover) counts its final report, the one its session.closed carries", async () => {
  // A rollover 3 s into each session: Parley closes the old session politely; its final usage comes back
  // in `session.closed` after the new session took over.
  await withLiveParley({ SESSION_ROLLOVER_MINUTES: "0.05" }, async (t) => {
    const call = await t.startCall({ persona: "sam" });
    const first = await within(t.live.session(0), "the first session");
    await within(t.waitForEvent("call.started"), "the stream started");
    await within(first.waitFor("session.start"), "the first session started");
    // No report on a timer: only its answer to `session.close` says it billed 60 s.
    first.billedSeconds = 60;
    const finalReport = t.waitForEvent("usage");
    const second = await within(t.live.session(1), "the new session", 6000);
    await within(first.waitFor("session.close"), "the old session told goodbye");
    await within(first.closed, "the old session closed");
    await within(finalReport, "the old session's final report");
    await within(second.waitFor("session.start"), "the new session started");
    await reportSeconds(t, second, 30);

    const record = await hangUpAndRead(t, call);
    assert.equal(record.reconnects, 1);
    assertSummed(record, await metricFigures(t));
  });
});
