/**
 * The statements the store has sent on its pool and not yet had answered, so that closing it waits for
 * exactly those. The driver's own `end()` (postgres.js 3.4.10) cannot be used for that: a connection
 * that failed while running a statement keeps it as its current one, `end()` waits for it to finish,
 * and it never does (porsager/postgres#1130), so after any dropped connection `end()` waited out its
 * whole timeout.
 *
 * @module
 */

import type { Sql } from "postgres";

/** A pool whose statements are counted while they run. */
export interface QueriesInFlight {
  /**
   * The pool: a tagged-template statement counts from when it is first awaited (or `then`ed) until it
   * settles, and a transaction (`begin`) from its start to its end. Fragments and helpers
   * (`sql(columns)`) are never awaited, so never counted; `unsafe`, `listen` and `notify` are not.
   */
  readonly sql: Sql;
  /** How many are running now. */
  running(): number;
  /** Resolves true once none is running, or false after `limitMs` if some still are. */
  settled(limitMs: number): Promise<boolean>;
}

function isTemplate(value: unknown): value is TemplateStringsArray {
  return Array.isArray(value) && "raw" in value;
}

/**
 * Counts the statements run through the returned `sql`.
 *
 * @example
 * ```ts
 * const queries = countQueriesInFlight(postgres(url));
 * await queries.sql`SELECT 1`;
 * await queries.settled(5_000); // true: nothing is running
 * ```
 */
export function countQueriesInFlight(pool: Sql): QueriesInFlight {
  let running = 0;
  const waiting = new Set<() => void>();
  const settle = () => {
    running -= 1;
    if (running === 0) { for (const wake of waiting) wake(); }
  };
  /** Counts `query` from its first `then` (an `await`, `.catch` or `.finally` all call it). */
  const countWhenAwaited = (query: PromiseLike<unknown>) => {
    const then = query.then;
    let counted = false;
    (query as { then: unknown }).then = function (this: PromiseLike<unknown>, ...handlers: unknown[]) {
      if (!counted) {
        counted = true;
        running += 1;
        then.call(this, settle, settle);
      }
      return (then as (...args: unknown[]) => unknown).apply(this, handlers);
    };
  };
  const begin = pool.begin as unknown as (...args: unknown[]) => Promise<unknown>;
  const countedBegin = (...args: unknown[]) => {
    running += 1;
    const transaction = begin(...args);
    transaction.then(settle, settle);
    return transaction;
  };
  const sql = new Proxy(pool, {
    get(target, property, receiver) {
      return property === "begin" ? countedBegin : Reflect.get(target, property, receiver);
    },
    apply(target, thisArg, args: unknown[]) {
      const result = Reflect.apply(target, thisArg, args) as unknown;
      if (isTemplate(args[0])) countWhenAwaited(result as PromiseLike<unknown>);
      return result;
    },
  });
  return {
    sql,
    running: () => running,
    settled(limitMs) {
      if (running === 0) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const wake = () => {
          waiting.delete(wake);
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          waiting.delete(wake);
          resolve(false);
        }, limitMs);
        waiting.add(wake);
      });
    },
  };
}
