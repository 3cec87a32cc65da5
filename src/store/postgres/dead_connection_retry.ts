/**
 * Reads that survive the pool's dead connections. Just after Postgres restarts or fails over, each
 * pooled connection the restart ended fails its first query (`CONNECTION_CLOSED`, `ECONNRESET`,
 * `57P01 terminating connection due to administrator command`…) when the end did not reach the
 * driver before it used the connection (a load balancer, a NAT, a failover to the same address): the
 * voice webhook would answer 500 and the caller hear Twilio's "application error". So does a pooled
 * connection that began to connect while the server could not be reached and whose handshake was
 * swallowed (`CONNECT_TIMEOUT`, after `connect_timeout`).
 *
 * {@linkcode retryReadsOnFreshConnection} wraps the pool: a statement that only reads (a `SELECT`
 * that locks nothing and calls no `pg_…` function) failing with a connection-level error is run once
 * more at once, on a connection opened for it (the pool's other idle connections may be dead too).
 * Writes go to the pool as before and are not repeated: one that may have committed has its own
 * dedupe (event keys); {@linkcode repeatable} marks the few statements safe to run twice. A
 * transaction (`sql.begin`) whose connection fails before its body runs (only its `BEGIN` was sent,
 * so nothing of it can have committed) is begun once more on a fresh connection: a lead or a campaign
 * saved just after a failover is saved, not answered with 500.
 *
 * @module
 */

import type { Sql } from "postgres";

/** Opens a one-connection pool on the same database, for one retry. */
export type FreshConnection = () => Sql;

/** The settings {@linkcode freshConnectionOf} opens its connections with. */
export interface FreshConnectionSettings {
  max: 1;
  fetch_types: false;
}

/**
 * A {@linkcode FreshConnection} for `pool`: `open` makes a one-connection pool that fetches no types
 * (a type fetch is a query no one awaits: failing on a connection dropped in a storm of restarts, it
 * would end the process) and is given the array types `pool` learnt instead.
 *
 * @example
 * ```ts
 * const fresh = freshConnectionOf(pool, (settings) => postgres(url, { ...settings, onnotice: () => {} }));
 * ```
 */
export function freshConnectionOf(
  pool: Sql,
  open: (settings: FreshConnectionSettings) => Sql,
): FreshConnection {
  return () => {
    const once = open({ max: 1, fetch_types: false });
    Object.assign(once.options.parsers, pool.options.parsers);
    Object.assign(once.options.serializers, pool.options.serializers);
    // Where the driver (3.4.10) keeps the array type of each element type, used to send arrays.
    const shared = (sql: Sql) => (sql.options as unknown as { shared?: { typeArrayMap?: object } }).shared;
    const arrays = shared(pool)?.typeArrayMap;
    const target = shared(once)?.typeArrayMap;
    if (arrays !== undefined && target !== undefined) Object.assign(target, arrays);
    return once;
  };
}

const freshOf = new WeakMap<object, FreshConnection>();

/**
 * Failures of the connection, not the statement: an established connection closed or was reset, or a
 * connect timed out. The last is a pooled connection that began to connect while the server could not
 * be reached: behind a proxy, a load balancer or a NAT that swallows the handshake during a failover,
 * it hangs until `connect_timeout` even when the server is back by then, and every statement queued on
 * it fails, never sent. A fresh connection reaches the server that is back (if it is still down, the
 * statement fails after a second wait, as it would have). A refused connect is not among them: the
 * server is down now, and trying again at once gets the same answer.
 */
const CONNECTION_CODES = new Set([
  "CONNECTION_CLOSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "CONNECT_TIMEOUT",
]);

/**
 * True when `error` says the connection failed, not the statement: it closed or was reset, the
 * server ended the session (SQLSTATE class 08 and 57P01–57P03), or its connect timed out.
 */
export function isConnectionLevelError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string") return false;
  return CONNECTION_CODES.has(code) || /^08/.test(code) || /^57P0[123]$/.test(code);
}

/** True for a statement that only reads, so running it twice is safe. */
export function isReadOnlyStatement(text: string): boolean {
  return /^\s*SELECT\b/i.test(text) && !/\bpg_\w+\s*\(/i.test(text) &&
    !/\bFOR\s+(UPDATE|SHARE|NO\s+KEY|KEY)\b/i.test(text);
}

function isTemplate(value: unknown): value is TemplateStringsArray {
  return Array.isArray(value) && "raw" in value;
}

/**
 * Whether each statement only reads, by its template: a tagged template's strings are one object per
 * place in the code, so each statement is classified once, not at every query.
 */
const readOnlyTemplates = new WeakMap<TemplateStringsArray, boolean>();

function readsOnly(strings: TemplateStringsArray): boolean {
  let readOnly = readOnlyTemplates.get(strings);
  if (readOnly === undefined) {
    readOnly = isReadOnlyStatement(strings.join("?"));
    readOnlyTemplates.set(strings, readOnly);
  }
  return readOnly;
}

/** Runs `strings`/`args` on `sql`; on a connection-level error, once more on a fresh connection. */
async function withRetry<T>(
  sql: Sql,
  fresh: FreshConnection,
  strings: TemplateStringsArray,
  args: unknown[],
): Promise<T> {
  try {
    return await (sql(strings, ...args as never[]) as unknown as Promise<T>);
  } catch (error) {
    if (!isConnectionLevelError(error)) throw error;
    return await onFreshConnection(
      fresh,
      (once) => once(strings, ...args as never[]) as unknown as Promise<T>,
    );
  }
}

/** Runs `run` on a connection opened for it, and closes that connection after. */
async function onFreshConnection<T>(fresh: FreshConnection, run: (once: Sql) => Promise<T>): Promise<T> {
  const once = fresh();
  try {
    return await run(once);
  } finally {
    await once.end({ timeout: 0 }).catch(() => {});
  }
}

/**
 * `sql.begin` that begins once more on a fresh connection when the pool's connection fails before
 * the transaction's body ran. The driver (3.4.10) calls the body only once its `BEGIN` is answered,
 * so a body that never ran sent nothing but `BEGIN`; one that ran is never repeated.
 */
function beginWithRetry(sql: Sql, fresh: FreshConnection): Sql["begin"] {
  const begin = sql.begin as unknown as (...args: unknown[]) => Promise<unknown>;
  return (async (...args: unknown[]) => {
    const body = args.at(-1) as (tx: unknown) => unknown;
    const options = args.slice(0, -1);
    let ran = false;
    try {
      return await begin(...options, (tx: unknown) => {
        ran = true;
        return body(tx);
      });
    } catch (error) {
      if (ran || !isConnectionLevelError(error)) throw error;
      return await onFreshConnection(
        fresh,
        (once) => (once.begin as unknown as (...args: unknown[]) => Promise<unknown>)(...options, body),
      );
    }
  }) as unknown as Sql["begin"];
}

/**
 * `sql`, whose read-only statements are run once more on a fresh connection when the pool's
 * connection fails, as are transactions whose connection failed at their `BEGIN`. Everything else
 * (writes, fragments, `listen`, helpers) is `sql`'s own.
 *
 * @example
 * ```ts
 * const sql = retryReadsOnFreshConnection(pool, () => postgres(url, { max: 1 }));
 * await sql`SELECT record FROM calls WHERE call_sid = ${callSid}`; // survives a dead pooled connection
 * ```
 */
export function retryReadsOnFreshConnection(sql: Sql, fresh: FreshConnection): Sql {
  const begin = beginWithRetry(sql, fresh);
  const wrapped = new Proxy(sql, {
    get(target, property, receiver) {
      return property === "begin" ? begin : Reflect.get(target, property, receiver);
    },
    apply(target, thisArg, args: unknown[]) {
      const [first, ...rest] = args;
      if (isTemplate(first) && readsOnly(first)) {
        return withRetry(target, fresh, first, rest);
      }
      return Reflect.apply(target, thisArg, args);
    },
  });
  freshOf.set(wrapped, fresh);
  return wrapped;
}

/**
 * A tag for a write that is safe to run twice (it deletes what has expired, or inserts what is
 * already there at most once): on a connection-level error it runs once more on a fresh connection.
 * On a `sql` not made by {@linkcode retryReadsOnFreshConnection} it runs once, as `sql` would.
 *
 * @example
 * ```ts
 * await repeatable(sql)`DELETE FROM used_stream_tokens WHERE expires_at < ${now}`;
 * ```
 */
export function repeatable(
  sql: Sql,
): <T = Record<string, unknown>[]>(strings: TemplateStringsArray, ...args: unknown[]) => Promise<T> {
  const fresh = freshOf.get(sql);
  return <T>(strings: TemplateStringsArray, ...args: unknown[]) =>
    fresh === undefined
      ? sql(strings, ...args as never[]) as unknown as Promise<T>
      : withRetry<T>(sql, fresh, strings, args);
}
