/**
 * A SIGTERM under `deno task dev` (a code change: the script starts again at once) leaves the calls
 * Parley placed that still ring open for the restarted run to take up, but only when that run will
 * have this instance's name: with DATABASE_URL and no INSTANCE_ID each start is a new instance, which
 * could never take them up, so they end with `server_shutdown` as before. A single machine (SQLite)
 * leaves them open on any stop, Ctrl-C too (`tests/calls/ringing_stop_test.ts`).
 */

import assert from "node:assert/strict";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { type Drainable, waitForShutdown } from "../src/shutdown.ts";

const minimal = {
  PUBLIC_BASE_URL: "https://parley.example.com",
  OPENAI_API_KEY: "sk-test-0123456789",
  TWILIO_AUTH_TOKEN: "0123456789abcdef0123456789abcdef",
};
const DATABASE_URL = "postgres://parley:s3cret@db.internal:5432/parley";

/** How `parley.shutdown` was asked to end the calls, after `signal` under `deno task dev`. */
async function shutdownAfter(signal: Deno.Signal, env: Record<string, string>): Promise<unknown[]> {
  const config = loadConfig({ ...minimal, ...env });
  const asked: unknown[] = [];
  const parley: Drainable = {
    activeCalls: () => 0,
    drain: () => Promise.resolve(),
    shutdown: (options) => {
      asked.push(options ?? {});
      return Promise.resolve();
    },
  };
  const listeners = new Map<Deno.Signal, () => void>();
  const stopped = waitForShutdown(parley, {
    log: createLogger({ sink: () => {} }),
    drainTimeoutS: 1,
    underWatcher: true,
    leavePlacedOnRestart: config.instanceIdKept,
    leavePlacedOnStop: config.databaseUrl === undefined && config.instanceIdKept, // as main.ts
    addSignalListener: (name, listener) => listeners.set(name, listener),
    removeSignalListener: (name) => listeners.delete(name),
  });
  listeners.get(signal)!();
  await stopped;
  assert.equal(listeners.size, 0, "its listeners removed");
  return asked;
}

Deno.test("dev restart (SIGTERM): placed calls still ringing are left open only when the next start keeps the instance's name", async () => {
  // SQLite: the host name, the same on the next start.
  assert.deepEqual(await shutdownAfter("SIGTERM", {}), [{ leavePlaced: true }]);
  // Postgres with INSTANCE_ID set: the same name again.
  assert.deepEqual(
    await shutdownAfter("SIGTERM", { DATABASE_URL, INSTANCE_ID: "dev-1" }),
    [{ leavePlaced: true }],
  );
  // Postgres with the random default: the next start is a new instance; the calls end now.
  assert.deepEqual(await shutdownAfter("SIGTERM", { DATABASE_URL }), [{}]);
  // Ctrl-C ends them with DATABASE_URL; a single machine (SQLite) leaves them for its next start.
  assert.deepEqual(await shutdownAfter("SIGINT", { DATABASE_URL, INSTANCE_ID: "dev-1" }), [{}]);
  assert.deepEqual(await shutdownAfter("SIGINT", {}), [{ leavePlaced: true }]);
});

Deno.test("instanceIdKept: false only for DATABASE_URL's random default name", () => {
  assert.equal(loadConfig(minimal).instanceIdKept, true);
  assert.equal(loadConfig({ ...minimal, INSTANCE_ID: "web-1" }).instanceIdKept, true);
  assert.equal(loadConfig({ ...minimal, DATABASE_URL }).instanceIdKept, false);
  assert.equal(loadConfig({ ...minimal, DATABASE_URL, INSTANCE_ID: "web-1" }).instanceIdKept, true);
});
