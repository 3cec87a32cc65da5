/**
 * The count of the store's statements in flight, which closing the Postgres store waits for instead of
 * the driver's `end()` (that one waits forever for a statement whose connection dropped): a statement
 * counts from its await to its answer, a transaction to its end; fragments and helpers never run, so
 * never count; a statement whose connection is killed stops counting when it fails.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import { countQueriesInFlight } from "../../src/store/postgres/queries_in_flight.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import { within } from "../../testing/within.ts";

Deno.test({
  name: "Postgres statements in flight: counted from their await to their answer, and nothing else",
  ignore: !postgresAvailable(),
  async fn(t) {
    const server = await startThrowawayPostgres();
    const url = await server.createDatabase();
    const pool = postgres(url, { max: 2, onnotice: () => {} });
    const queries = countQueriesInFlight(pool);
    const { sql } = queries;
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await t.step("a statement counts from its await until its answer", async () => {
        const query = sql<{ one: number }[]>`SELECT 1 AS one, pg_sleep(0.3)`;
        assert.equal(queries.running(), 0, "not counted before it is awaited");
        const answer = query.then((rows) => rows[0]?.one);
        assert.equal(queries.running(), 1);
        assert.equal(await queries.settled(20), false, "still running after 20 ms");
        assert.equal(await queries.settled(5_000), true);
        assert.equal(queries.running(), 0);
        assert.equal(await answer, 1);
      });

      await t.step("fragments and helpers are built, never run, and never counted", async () => {
        const rows = await sql<{ one: number; two: string }[]>`
          SELECT ${sql`1`} AS one, ${"b"} AS two WHERE 'a' IN ${sql(["a", "b"])}`;
        assert.deepEqual([...rows], [{ one: 1, two: "b" }]);
        assert.equal(queries.running(), 0);
        assert.equal(await queries.settled(0), true);
      });

      await t.step("a transaction counts until it ends, committed or rolled back", async () => {
        const committed = sql.begin(async (tx) => {
          await tx`SELECT pg_sleep(0.2)`;
          return "committed";
        });
        assert.equal(queries.running(), 1);
        assert.equal(await committed, "committed");
        assert.equal(queries.running(), 0);

        const rolledBack = sql.begin(async (tx) => {
          await tx`SELECT 1`;
          throw new Error("the body failed");
        });
        assert.equal(queries.running(), 1);
        await assert.rejects(rolledBack, /the body failed/);
        assert.equal(queries.running(), 0);
      });

      await t.step("a statement whose connection is killed stops counting when it fails", async () => {
        const sleeping = sql`SELECT pg_sleep(30) AS killed_here`.then(() => "answered", (e) => e.code);
        assert.equal(queries.running(), 1);
        let killed = 0;
        const giveUpAt = Date.now() + 5_000;
        while (killed === 0) {
          assert.ok(Date.now() < giveUpAt, "the sleeping statement never showed in pg_stat_activity");
          const rows = await admin<{ pid: number }[]>`
            SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity
            WHERE query LIKE '%killed_here%' AND pid <> pg_backend_pid()`;
          killed = rows.length;
        }
        assert.equal(await within(queries.settled(5_000), "the killed statement settled"), true);
        assert.match(String(await sleeping), /^(57P01|CONNECTION_CLOSED|ECONNRESET)$/);
        assert.equal(queries.running(), 0);
      });
    } finally {
      await admin.end();
      await pool.end({ timeout: 0 });
      await server.stop();
    }
  },
});
