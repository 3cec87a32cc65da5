/**
 * The Postgres driver (`npm:postgres`, 3.4.10) can throw where nothing catches when the server drops
 * connections (a restart, a failover, `pg_terminate_backend`), which would end the process and every
 * call with it:
 *
 * - a write it queued with `setImmediate` runs after the connection closed: `TypeError: Cannot read
 *   properties of null (reading 'write')` in `nextWrite` (porsager/postgres#1066, #1154, #1208; seen
 *   here in about one Postgres restart in five under load);
 * - a query of its own (the type fetch of a new connection) fails with no one awaiting it: an
 *   unhandled rejection of a `PostgresError` (`57P01 terminating connection due to administrator
 *   command`);
 * - the read of a connection the server reset rejects inside Deno's Node-compat sockets, where no one
 *   awaits it: an unhandled `Error: read ECONNRESET` whose stack is all `ext:deno_node` (about one run
 *   in six of 100 `pg_terminate_backend` under load, `tests/store/postgres_driver_faults_test.ts`).
 *
 * Every query Parley runs is awaited, so an error of the driver that reaches the top comes from the
 * driver's own work: the connection is gone, the driver reconnects, and Parley's writes are retried by
 * their owners. {@linkcode survivePostgresDriverFaults} stops those three from ending the process and
 * reports each; any other uncaught error keeps its default effect.
 *
 * @module
 */

import { errorText } from "../../log.ts";

/** True for the driver's write to a connection it already closed (`nextWrite` on a null socket). */
export function isDriverNullSocketWrite(error: unknown): boolean {
  const stack = error instanceof Error ? error.stack ?? "" : "";
  return error instanceof TypeError && /reading 'write'/.test(error.message) &&
    /nextWrite[^\n]*[/\\]postgres[/\\@][^\n]*connection\.js/.test(stack);
}

/**
 * True for a socket read that failed because the peer reset the connection, raised inside Deno's
 * Node-compat sockets with nothing of Parley's or the driver's on its stack (so no one could await it).
 */
export function isDroppedSocketRead(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (code === "ECONNRESET" || code === "EPIPE") &&
    /ext:deno_node[/\\]internal[/\\]stream_base_commons/.test(error.stack ?? "");
}

/** True for an error of the driver (a `PostgresError`, or raised inside its code). */
export function isDriverError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return error.name === "PostgresError" ||
    /[/\\]postgres[/\\@][^\n]*[/\\]src[/\\]connection\.js/.test(error.stack ?? "");
}

/**
 * Listens for uncaught errors and unhandled rejections of the driver, keeps the process running and
 * reports them (once a minute at most, with how many since). Returns the function that stops.
 *
 * @example
 * ```ts
 * const stop = survivePostgresDriverFaults((message) => log.error(message));
 * ```
 */
export function survivePostgresDriverFaults(
  report: (message: string) => void,
  now: () => number = () => performance.now(),
): () => void {
  let reportedAt: number | undefined;
  let unreported = 0;
  const heard = (what: string, error: unknown) => {
    unreported++;
    const at = now();
    if (reportedAt !== undefined && at - reportedAt < 60_000) return;
    reportedAt = at;
    const text = errorText(error).replace(/[^\x20-\x7e]/g, " ");
    report(
      `[Realtime] Postgres driver: ${what} (${text.slice(0, 200)})${
        unreported > 1 ? ` (${unreported} since the last report)` : ""
      }: a connection dropped; the driver reconnects, writes are retried, calls go on`,
    );
    unreported = 0;
  };
  const onError = (event: ErrorEvent) => {
    if (!isDriverNullSocketWrite(event.error)) return;
    event.preventDefault();
    heard("a write to a closed connection was dropped", event.error);
  };
  const onRejection = (event: PromiseRejectionEvent) => {
    if (isDroppedSocketRead(event.reason)) {
      event.preventDefault();
      heard("a read of a reset connection failed with no one waiting", event.reason);
      return;
    }
    if (!isDriverError(event.reason)) return;
    event.preventDefault();
    heard("a query of its own failed with no one waiting", event.reason);
  };
  globalThis.addEventListener("error", onError);
  globalThis.addEventListener("unhandledrejection", onRejection);
  return () => {
    globalThis.removeEventListener("error", onError);
    globalThis.removeEventListener("unhandledrejection", onRejection);
  };
}
