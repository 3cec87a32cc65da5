/**
 * A pooled connection that began to connect while Postgres could not be reached (its handshake
 * swallowed, as behind a load balancer or a NAT during a failover) fails every statement queued on it
 * with the driver's `CONNECT_TIMEOUT` once `connect_timeout` passes, even when the database is back by
 * then: the statement was never sent. The store's reads (and its repeatable writes) run once more on a
 * fresh connection, which gets through.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import {
  freshConnectionOf,
  repeatable,
  retryReadsOnFreshConnection,
} from "../../src/store/postgres/dead_connection_retry.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import { startBlackHoleProxy } from "../../testing/black_hole_proxy.ts";
import { within } from "../../testing/within.ts";

Deno.test({
  name: "a statement queued on a connect that hung while the database was unreachable runs once it is back",
  ignore: !postgresAvailable() || (Deno.env.get("PARLEY_TEST_DATABASE_URL") ?? "") !== "",
  async fn() {
    const server = await startThrowawayPostgres();
    const proxy = startBlackHoleProxy(Number(new URL(server.url).port));
    const url = new URL(await server.createDatabase());
    url.port = String(proxy.port);
    // A second instead of the store's ten keeps the test short. Each pool connects on its first
    // statement, and its fresh connections are made as the store makes them.
    const settings = { connect_timeout: 1, onnotice: () => {} };
    const pools: postgres.Sql[] = [];
    const store = () => {
      const pool = postgres(url.toString(), { ...settings, max: 1 });
      pools.push(pool);
      return retryReadsOnFreshConnection(
        pool,
        freshConnectionOf(pool, (fresh) => postgres(url.toString(), { ...settings, ...fresh })),
      );
    };
    try {
      for (
        const [what, run] of [
          ["a read", () => store()<{ n: number }[]>`SELECT 1 AS n`],
          ["a repeatable write", () => repeatable(store())<{ n: number }[]>`SELECT 1 AS n`],
        ] as const
      ) {
        // Unreachable: the pool's connect is swallowed. Back before that connect times out.
        proxy.down = true;
        const swallowed = proxy.swallowed();
        const running = run();
        await within(swallowed, `${what}'s connect swallowed`);
        proxy.down = false;
        const rows = await within(running, what, 10_000);
        assert.deepEqual([...rows], [{ n: 1 }], what);
      }
    } finally {
      for (const pool of pools) await pool.end({ timeout: 0 }).catch(() => {});
      await proxy.close();
      await server.stop();
    }
  },
});
