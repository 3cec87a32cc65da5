/**
 * The Postgres adapter: every port of `../ports.ts` over the database at `DATABASE_URL`, shared by
 * every instance, plus the {@linkcode PostgresEventBus} that carries call events between them.
 * Opening it connects, runs the missing migrations (under an advisory lock) and starts listening.
 *
 * @module
 */

import postgres, { type Sql } from "postgres";
import type { PriceTable } from "../../engines/prices.ts";
import type { Store } from "../ports.ts";
import { PostgresCallRecords } from "./call_records.ts";
import { freshConnectionOf, retryReadsOnFreshConnection } from "./dead_connection_retry.ts";
import { survivePostgresDriverFaults } from "./driver_faults.ts";
import { PostgresEventBus } from "./event_bus.ts";
import { PostgresCallControl } from "./call_control.ts";
import { InstanceHeartbeat } from "./instance_heartbeat.ts";
import { postgresLeads } from "./leads.ts";
import { postgresCampaigns } from "./campaigns.ts";
import { postgresDoNotCall } from "./do_not_call.ts";
import { postgresAnalyses } from "./analyses.ts";
import { migrate } from "./schema.ts";
import { postgresSignInSessions, postgresUsedStreamTokens } from "./shared_ledgers.ts";
import { postgresWebhookOutbox } from "./webhook_outbox.ts";
import { countQueriesInFlight, type QueriesInFlight } from "./queries_in_flight.ts";
import { errorText } from "../../log.ts";
import { databaseUrlPasswords, describeDatabaseUrl } from "../../database_url.ts";

/**
 * Every setting the driver would otherwise read from a `PG<NAME>` variable, at the driver's own
 * defaults, so its behaviour does not depend on stray variables and `--allow-env` stays short (see
 * `DRIVER_ENV_VARIABLES` in `src/config.ts` for the few it still reads). A setting in the URL's
 * query (`?sslmode=require`, `?connect_timeout=5`) wins over these.
 */
function driverSettings(url: string): Record<string, unknown> {
  const settings: Record<string, unknown> = {
    ssl: false,
    sslnegotiation: null,
    idle_timeout: null,
    connect_timeout: 10,
    max_lifetime: () => 60 * (30 + Math.random() * 30),
    max_pipeline: 100,
    backoff: (retries: number) => (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, 20),
    keep_alive: 60,
    prepare: true,
    debug: false,
    fetch_types: true,
    publications: "alltables",
    target_session_attrs: null,
  };
  let query: URLSearchParams;
  try {
    query = new URL(url).searchParams;
  } catch {
    return settings;
  }
  for (const key of [...query.keys()]) delete settings[key === "sslmode" ? "ssl" : key];
  return settings;
}

/** Options for {@linkcode openPostgresStore}. */
export interface PostgresStoreOptions {
  /** This process's `INSTANCE_ID`. */
  instance: string;
  /** Prices for the records' `costUsd`. @default DEFAULT_PRICES */
  prices?: PriceTable;
  /** Where write and feed failures are reported. @default console.error */
  onError?: (message: string) => void;
  /** Connections in the pool. @default 10 */
  maxConnections?: number;
  /** A peer without a heartbeat this long has its open calls closed by this instance (or another), ms. @default 30000 */
  instanceTimeoutMs?: number;
  /** How often a running call's record is stamped alive, ms. @default HEARTBEAT_MS */
  heartbeatMs?: number;
  /** Wall clock of the per-call heartbeat, epoch ms. @default Date.now */
  wallClock?: () => number;
}

/** The Postgres store: the ports, the bus, and a `closed` promise that settles once the pool has ended. */
export interface PostgresStore extends Store {
  readonly calls: PostgresCallRecords;
  readonly bus: PostgresEventBus;
  readonly control: PostgresCallControl;
  /** This instance's heartbeat row and the sweep for dead peers. */
  readonly heartbeat: InstanceHeartbeat;
  /** Settles when `close()` has written what was queued and ended every connection. */
  readonly closed: Promise<void>;
}

/**
 * Connects to `url`, migrates and starts the bus.
 *
 * @example
 * ```ts
 * const store = await openPostgresStore(config.databaseUrl, { instance: config.instanceId });
 * // … on shutdown:
 * store.close();
 * await store.closed;
 * ```
 * @throws {Error} naming DATABASE_URL's host (never its password) when it cannot connect or migrate.
 */
export async function openPostgresStore(url: string, options: PostgresStoreOptions): Promise<PostgresStore> {
  const onError = options.onError ?? ((message: string) => console.error(message));
  // From the first connection to the last: the driver's own failures when connections drop (a restart,
  // a failover) never end the process.
  const stopGuard = survivePostgresDriverFaults(onError);
  try {
    const store = await openStore(url, options, onError);
    void store.closed.then(stopGuard);
    return store;
  } catch (error) {
    stopGuard();
    throw error;
  }
}

/** Connects, migrates, then starts each part in turn; a part that fails undoes the ones before. */
async function openStore(
  url: string,
  options: PostgresStoreOptions,
  onError: (message: string) => void,
): Promise<PostgresStore> {
  const { pool, sql, queries } = connectPool(url, options);
  const endPool = async () => {
    await sql.end({ timeout: 1 }).catch(() => {});
  };
  await startStep(url, "open the Postgres database at", () => migrate(pool), endPool);
  const bus = new PostgresEventBus(pool, onError);
  await startStep(url, "LISTEN on", () => bus.start(), endPool);
  const control = new PostgresCallControl(pool, options.instance, onError);
  await startStep(url, "LISTEN on", () => control.start(), async () => {
    await bus.close().catch(() => {});
    await endPool();
  });
  const calls = new PostgresCallRecords(sql, {
    instance: options.instance,
    onError,
    ...(options.prices === undefined ? {} : { prices: options.prices }),
    ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
    ...(options.wallClock === undefined ? {} : { wallClock: options.wallClock }),
  });
  const heartbeat = new InstanceHeartbeat(sql, calls, {
    instance: options.instance,
    report: onError,
    ...(options.instanceTimeoutMs === undefined ? {} : { timeoutMs: options.instanceTimeoutMs }),
  });
  await startStep(url, "write the instance heartbeat at", () => heartbeat.start(), async () => {
    calls.close();
    await Promise.all([bus.close(), control.close()]).catch(() => {});
    await endPool();
  });
  return storeOf({ instance: options.instance, sql, queries, calls, bus, control, heartbeat, onError });
}

/**
 * The pool, and the handle the ports use: their reads are run once more on a connection of their
 * own when a pooled one turns out dead (just after a restart or failover), and their statements are
 * counted while they run (`queries`, for closing); the migrations and the LISTENing bus and control
 * use the pool.
 */
function connectPool(
  url: string,
  options: PostgresStoreOptions,
): { pool: Sql; sql: Sql; queries: QueriesInFlight } {
  let pool: Sql;
  try {
    pool = postgres(url, {
      ...driverSettings(url),
      max: options.maxConnections ?? 10,
      onnotice: () => {},
      // JSON columns come back parsed; bigints come back as strings and are converted where read.
    });
  } catch (error) {
    throw new Error(
      `DATABASE_URL: cannot use ${describeDatabaseUrl(url)}: ${errorTextWithoutPassword(error, url)}`,
    );
  }
  const queries = countQueriesInFlight(pool);
  const sql = retryReadsOnFreshConnection(
    queries.sql,
    freshConnectionOf(
      pool,
      (settings) => postgres(url, { ...driverSettings(url), ...settings, onnotice: () => {} }),
    ),
  );
  return { pool, sql, queries };
}

/**
 * Runs one step of opening; when it fails, runs `undo` (what the steps before started) and throws
 * naming what could not be done (`doing`) and DATABASE_URL's host, never its password.
 */
async function startStep(
  url: string,
  doing: string,
  start: () => Promise<unknown>,
  undo: () => Promise<void>,
): Promise<void> {
  try {
    await start();
  } catch (error) {
    await undo();
    throw new Error(
      `DATABASE_URL: cannot ${doing} ${describeDatabaseUrl(url)}: ${errorTextWithoutPassword(error, url)}`,
    );
  }
}

/** How long closing waits for the ports' statements still running, ms. */
const CLOSE_WAIT_MS = 5_000;

/** The parts of an open store, for {@linkcode storeOf}. */
interface OpenParts {
  instance: string;
  sql: Sql;
  queries: QueriesInFlight;
  calls: PostgresCallRecords;
  bus: PostgresEventBus;
  control: PostgresCallControl;
  heartbeat: InstanceHeartbeat;
  onError: (message: string) => void;
}

/**
 * The store over its started parts. `close()` writes what is queued, then stops the heartbeat
 * (cleanly when every event was written), the bus and control, and ends the connections.
 */
function storeOf(
  { instance, sql, queries, calls, bus, control, heartbeat, onError }: OpenParts,
): PostgresStore {
  let resolveClosed: () => void;
  const closed = new Promise<void>((resolve) => resolveClosed = resolve);
  let closing = false;
  return {
    instance,
    calls,
    bus,
    control,
    heartbeat,
    cluster: heartbeat,
    leads: postgresLeads(sql),
    campaigns: postgresCampaigns(sql),
    doNotCall: postgresDoNotCall(sql),
    analyses: postgresAnalyses(sql),
    sessions: postgresSignInSessions(sql),
    usedStreamTokens: postgresUsedStreamTokens(sql),
    afterStream: calls,
    outbox: postgresWebhookOutbox(sql),
    closed,
    close() {
      if (closing) return;
      closing = true;
      const pending = calls.settled();
      calls.close();
      void (async () => {
        await pending.catch(() => {});
        // Every event written: a clean stop, no peer needs to close this instance's calls.
        await heartbeat.close(calls.health().pendingEvents === 0);
        const unwritten = calls.health().pendingEvents;
        if (unwritten > 0) {
          onError(`[Realtime] Call store is closing: ${unwritten} call event(s) not recorded`);
        }
        await bus.close().catch(() => {});
        await control.close().catch(() => {});
        // The ports' statements still running get up to 5 s; then the connections end at once. Not
        // the driver's `end({ timeout: 5 })`: after a connection dropped mid-statement it waits out the
        // whole 5 s (see ./queries_in_flight.ts).
        await queries.settled(CLOSE_WAIT_MS);
        await sql.end({ timeout: 0 }).catch(() => {});
        resolveClosed();
      })();
    },
  };
}

/** The error's message, with the URL's password (if it appears) blotted out. */
function errorTextWithoutPassword(error: unknown, url: string): string {
  let text = errorText(error);
  for (const password of databaseUrlPasswords(url)) text = text.replaceAll(password, "***");
  // deno-lint-ignore no-control-regex -- raw control characters never reach the logs
  return text.replace(/[\x00-\x1f\x7f]/g, " ");
}
