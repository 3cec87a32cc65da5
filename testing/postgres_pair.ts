/**
 * Two test Parleys on one Postgres database, as instances behind a load balancer run: each with its own
 * store (instances "alpha" and "beta"), both closed after the test's body.
 *
 * @module
 */

import { openPostgresStore, type PostgresStore } from "../src/store/postgres/store.ts";
import { startTestParley, type TestParley, type TestParleyOptions } from "./parley_harness.ts";
import type { ThrowawayPostgres } from "./postgres.ts";

/** The two instances and their stores. */
export interface PostgresPair {
  a: TestParley;
  b: TestParley;
  storeA: PostgresStore;
  storeB: PostgresStore;
}

/**
 * Starts A and B on a fresh database of `server` with the same `options`, runs `body`, then closes
 * both instances and both stores.
 *
 * @example
 * ```ts
 * await withPostgresPair(server, { env: { API_TOKEN } }, async ({ a, b }) => {
 *   // a call on A, read from B
 * });
 * ```
 */
export async function withPostgresPair(
  server: ThrowawayPostgres,
  options: Omit<TestParleyOptions, "shared">,
  body: (pair: PostgresPair) => Promise<void>,
): Promise<void> {
  const url = await server.createDatabase();
  const storeA = await openPostgresStore(url, { instance: "alpha", maxConnections: 4 });
  const storeB = await openPostgresStore(url, { instance: "beta", maxConnections: 4 });
  const a = await startTestParley({ ...options, shared: storeA });
  const b = await startTestParley({ ...options, shared: storeB });
  try {
    await body({ a, b, storeA, storeB });
  } finally {
    await a.close();
    await b.close();
    storeA.close();
    storeB.close();
    await Promise.all([storeA.closed, storeB.closed]);
  }
}
