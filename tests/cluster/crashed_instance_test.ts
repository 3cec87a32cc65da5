/**
 * Heartbeat rows per instance (issue 19 §6): when one instance stops beating, exactly one live peer
 * closes its open records as `server_crashed` and hands them over for their webhooks and analyses;
 * the peers' own calls are untouched.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import type { CallEvent } from "../../src/calls/call_events.ts";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres/store.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import { within } from "../../testing/within.ts";

const ignore = !postgresAvailable();
const CRASHED_CALL = "CA000000000000000000000000000c0001";
const LIVE_CALL = "CA000000000000000000000000000c0002";

function started(callSid: string, at: number): CallEvent {
  return {
    type: "call.started",
    at,
    callSid,
    streamSid: `MZ${callSid.slice(2)}`,
    persona: "tester",
    model: "gpt-realtime-2.1",
    parameters: {},
  };
}

Deno.test({
  name: "a peer closes the open calls of an instance that stopped beating, exactly once",
  ignore,
  async fn() {
    const server = await startThrowawayPostgres();
    const url = await server.createDatabase();
    const reports: Record<string, string[]> = { crashed: [], beta: [], gamma: [] };
    const open = (instance: string) =>
      openPostgresStore(url, {
        instance,
        maxConnections: 3,
        instanceTimeoutMs: 600,
        onError: (message) => reports[instance]!.push(message),
      });
    const stores: PostgresStore[] = [];
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const crashed = await open("crashed");
      const beta = await open("beta");
      const gamma = await open("gamma");
      stores.push(crashed, beta, gamma);
      const now = Date.now();
      crashed.calls.listener(started(CRASHED_CALL, now - 2_000));
      beta.calls.listener(started(LIVE_CALL, now - 1_000));
      await Promise.all([crashed.calls.flush(), beta.calls.flush()]);

      // The process dies: no more beats, no clean stop.
      await crashed.heartbeat.close(false);
      const seen = performance.now();
      // Two peers sweep on their timers, and four more sweeps race them: one claim wins.
      const extra = await Promise.all([beta, gamma, beta, gamma].map(async (peer) => {
        await new Promise((resolve) => setTimeout(resolve, 700));
        return await peer.heartbeat.sweep();
      }));
      const ended = await within(
        (async () => {
          for (;;) {
            const record = await gamma.calls.getCall(CRASHED_CALL);
            if (record?.endedAt != null) return record;
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        })(),
        "a peer to close the crashed instance's call",
        10_000,
      );
      const tookMs = performance.now() - seen;
      assert.equal(ended.endReason, "server_crashed");
      assert.match(
        ended.endDetail ?? "",
        /instance crashed stopped \(no heartbeat for 0\.6 s\): closed by (beta|gamma)/,
      );
      assert.ok(tookMs < 5_000, `closed ${Math.round(tookMs)} ms after the last beat`);

      const endEvents = await sql`SELECT count(*)::int AS n FROM call_events
        WHERE call_sid = ${CRASHED_CALL} AND event->>'type' = 'call.ended'`;
      assert.equal(endEvents[0]!.n, 1, "one call.ended event");
      const claims = [...reports.beta!, ...reports.gamma!].filter((m) =>
        /Instance crashed stopped beating/.test(m)
      );
      assert.equal(claims.length, 1, claims.join("\n"));
      assert.match(
        claims[0]!,
        new RegExp(`closed its 1 open call\\(s\\) as server_crashed \\(${CRASHED_CALL}\\)`),
      );
      assert.ok(extra.flat().length <= 1, "at most one of the racing sweeps claimed it");
      // Closed before anyone listened: the closing peer hands the call over once a listener is set.
      const handed: string[] = [];
      for (const peer of [beta, gamma]) peer.heartbeat.onPeerCallsClosed((sids) => handed.push(...sids));
      assert.deepEqual(handed, [CRASHED_CALL], "its call.ended and analysis are owed, once");
      assert.equal((await beta.calls.getCall(LIVE_CALL))?.endedAt, null, "a live peer's call is untouched");
      const rows = await sql`SELECT instance, stopped_at FROM instances ORDER BY instance`;
      assert.deepEqual(rows.map((r) => [r.instance, r.stopped_at !== null]), [
        ["beta", false],
        ["crashed", true],
        ["gamma", false],
      ]);
    } finally {
      await sql.end();
      for (const store of stores) store.close();
      await Promise.all(stores.map((store) => store.closed));
      await server.stop();
    }
  },
});

Deno.test({
  name: "an instance that stops cleanly marks its heartbeat row stopped: no peer sweeps it",
  ignore,
  async fn() {
    const server = await startThrowawayPostgres();
    const url = await server.createDatabase();
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const store = await openPostgresStore(url, { instance: "web-1", maxConnections: 2 });
      const beating = await sql`SELECT stopped_at FROM instances WHERE instance = 'web-1'`;
      assert.equal(beating[0]!.stopped_at, null);
      store.close();
      await store.closed;
      const stopped = await sql`SELECT stopped_at FROM instances WHERE instance = 'web-1'`;
      assert.notEqual(stopped[0]!.stopped_at, null);
    } finally {
      await sql.end();
      await server.stop();
    }
  },
});

Deno.test({
  name:
    "Postgres: a crashed run's record ends at its last per-call heartbeat: a quiet 1.8 s call shows 1.8 s",
  ignore,
  async fn() {
    const server = await startThrowawayPostgres();
    const url = await server.createDatabase();
    let clock = 1_000;
    let beat!: () => void;
    const beaten = new Promise<void>((resolve) => beat = resolve);
    const crashed = await openPostgresStore(url, {
      instance: "web-1",
      maxConnections: 2,
      heartbeatMs: 20,
      wallClock: () => {
        if (clock > 1_000) beat();
        return clock;
      },
    });
    let next: PostgresStore | undefined;
    try {
      crashed.calls.listener(started(CRASHED_CALL, 1_000));
      // Nothing more happens on the call: 1.8 s later the process dies.
      clock = 2_800;
      await within(beaten, "a heartbeat at 2.8 s");
      await crashed.calls.flush();
      next = await openPostgresStore(url, { instance: "web-1", maxConnections: 2 });
      assert.deepEqual(await next.calls.closeAbandonedRecords("server_crashed", "the server stopped"), [
        CRASHED_CALL,
      ]);
      const record = (await next.calls.getCall(CRASHED_CALL))!;
      assert.equal(record.endedAt, 2_800);
      assert.equal(record.durationMs, 1_800);
    } finally {
      crashed.close();
      next?.close();
      await Promise.all([crashed.closed, next?.closed]);
      await server.stop();
    }
  },
});
