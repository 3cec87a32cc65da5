/**
 * Upgrading a database whose calls were analysed before the analysis's cost was stored in the call
 * (SQLite migration 14, Postgres migration 9): each call's cost reads as it did, the analysis's
 * included; an unpriced analysis makes it unknown; a call without a done analysis keeps its own.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { MIGRATIONS } from "../../src/store/sqlite/schema.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";
import { PG_MIGRATIONS } from "../../src/store/postgres/schema.ts";
import { emptyRecord } from "../../src/store/postgres/fold.ts";
import { openPostgresStore } from "../../src/store/postgres/store.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import type { CallRecords } from "../../src/store/ports.ts";

/** Calls, their own cost, and their analysis (state, cost) if any. */
const CALLS: [string, number, ["done" | "pending", number | null] | undefined][] = [
  ["CA000000000000000000000000000priced", 0.01, ["done", 0.002]],
  ["CA00000000000000000000000000unpriced", 0.01, ["done", null]],
  ["CA000000000000000000000000000pending", 0.01, ["pending", null]],
  ["CA0000000000000000000000000000alone", 0.01, undefined],
];
const SPEC = JSON.stringify({ persona: "lead", model: "gpt-5-mini", schema: {}, instructions: null });

async function assertCosts(calls: CallRecords): Promise<void> {
  const cost = async (callSid: string) => (await calls.getCall(callSid))?.costUsd;
  assert.ok(Math.abs((await cost(CALLS[0]![0]))! - 0.012) < 1e-12, "own cost + the analysis's");
  assert.equal(await cost(CALLS[1]![0]), null, "an unpriced analysis: unknown");
  assert.equal(await cost(CALLS[2]![0]), 0.01, "a pending analysis adds nothing yet");
  assert.equal(await cost(CALLS[3]![0]), 0.01, "no analysis");
  const listed = new Map((await calls.listCalls()).map((c) => [c.callSid, c.costUsd]));
  assert.ok(Math.abs(listed.get(CALLS[0]![0])! - 0.012) < 1e-12);
  assert.equal(listed.get(CALLS[1]![0]), null);
}

Deno.test("SQLite: migration 14 copies the costs of analyses done before into their calls", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_analysis_cost_" });
  try {
    const path = `${dir}/parley.db`;
    const db = new DatabaseSync(path);
    for (const migration of MIGRATIONS.slice(0, 13)) db.exec(migration);
    db.exec("PRAGMA user_version = 13");
    for (const [callSid, own, analysis] of CALLS) {
      db.prepare("INSERT INTO calls (call_sid, created_at, cost_usd) VALUES (?, ?, ?)").run(
        callSid,
        1_000,
        own,
      );
      if (analysis === undefined) continue;
      db.prepare(
        `INSERT INTO analyses (call_sid, state, next_try_at, spec, created_at, updated_at, cost_usd)
         VALUES (?, ?, 0, ?, 1000, 1000, ?)`,
      ).run(callSid, analysis[0], SPEC, analysis[1]);
    }
    db.close();
    const store = openCallStore(path);
    try {
      await assertCosts(store);
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "Postgres: migration 9 copies the costs of analyses done before into their records",
  ignore: !postgresAvailable(),
  async fn() {
    const server = await startThrowawayPostgres();
    try {
      const url = await server.createDatabase();
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await sql`CREATE TABLE schema_version (version integer NOT NULL)`;
        for (const migration of PG_MIGRATIONS.slice(0, 8)) await sql.unsafe(migration);
        await sql`INSERT INTO schema_version (version) VALUES (8)`;
        for (const [callSid, own, analysis] of CALLS) {
          // A record as the fold kept it before: its cost, and what it was computed from.
          const record = { ...emptyRecord(callSid, 1_000, "alpha"), costUsd: own, pricedUsd: own };
          await sql`INSERT INTO calls (call_sid, created_at, instance, record)
            VALUES (${callSid}, 1000, 'alpha', ${sql.json(record as never)})`;
          if (analysis === undefined) continue;
          await sql`INSERT INTO analyses (call_sid, state, next_try_at, spec, created_at, updated_at, cost_usd)
            VALUES (${callSid}, ${analysis[0]}, 0, ${sql.json(JSON.parse(SPEC))}, 1000, 1000, ${
            analysis[1]
          })`;
        }
      } finally {
        await sql.end();
      }
      const store = await openPostgresStore(url, { instance: "alpha", maxConnections: 2 });
      try {
        await assertCosts(store.calls);
        // The fold goes on from what the migration wrote: a later event keeps the analysis's cost.
        await store.calls.record({
          type: "transcript",
          at: 2_000,
          callSid: CALLS[0]![0],
          speaker: "caller",
          text: "Bye.",
        });
        assert.ok(Math.abs((await store.calls.getCall(CALLS[0]![0]))!.costUsd! - 0.012) < 1e-12);
      } finally {
        store.close();
        await store.closed;
      }
    } finally {
      await server.stop();
    }
  },
});
