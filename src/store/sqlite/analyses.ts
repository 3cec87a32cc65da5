/**
 * Post-call analyses in the call database, over their own SQLite connection. A claim is one
 * `BEGIN IMMEDIATE` transaction (SQLite's write lock), so two processes on one `DATA_DIR` never run
 * one analysis at once.
 *
 * The connection is synchronous and on the server's event loop, like the call store's: a write that
 * meets another process's lock waits at most the call store's `BUSY_TIMEOUT_MS` (20 ms), then
 * rejects (`database is locked`); the worker tries it again later.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { asPromise, openSqliteConnection, type SqliteConnection } from "./connection.ts";
import type { AnalysisJob, AnalysisSpec, AnalysisState, AnalysisSuccess } from "../analysis_job.ts";
import type { AnalysisJobs } from "../ports.ts";

/**
 * Opens the analyses table of the call database at `path` (creating and migrating it if needed).
 *
 * @example
 * ```ts
 * const analyses = openAnalysisStore(callDatabasePath(config.dataDir));
 * const due = await analyses.claim("host-a", Date.now(), 2, 120_000);
 * ```
 */
export function openAnalysisStore(path: string): AnalysisJobs {
  return new SqliteAnalysisStore(openSqliteConnection(path));
}

/** The analyses table over its own SQLite connection: each method runs synchronously, its throw a rejection. */
class SqliteAnalysisStore implements AnalysisJobs {
  readonly #db: DatabaseSync;
  readonly #sql: SqliteConnection["sql"];
  readonly #transaction: SqliteConnection["transaction"];

  constructor({ db, sql, transaction }: SqliteConnection) {
    this.#db = db;
    this.#sql = sql;
    this.#transaction = transaction;
  }

  enqueue(callSid: string, spec: AnalysisSpec, at: number): Promise<boolean> {
    return asPromise(() =>
      Number(
        this.#sql(
          `INSERT OR IGNORE INTO analyses (call_sid, state, next_try_at, spec, created_at, updated_at)
           VALUES (?, 'pending', ?, ?, ?, ?)`,
        ).run(callSid, at, JSON.stringify(spec), at, at).changes,
      ) > 0
    );
  }

  claim(instance: string, now: number, limit: number, leaseMs: number): Promise<AnalysisJob[]> {
    return asPromise(() =>
      this.#transaction(() => {
        const due = this.#sql(
          `SELECT call_sid FROM analyses
           WHERE (state = 'pending' AND next_try_at <= ?) OR (state = 'running' AND claimed_until <= ?)
           ORDER BY next_try_at, call_sid LIMIT ?`,
        ).all(now, now, limit).map((row) => String(row.call_sid));
        for (const callSid of due) {
          this.#sql(
            `UPDATE analyses SET state = 'running', claimed_by = ?, claimed_until = ?,
               attempts = attempts + 1, updated_at = ? WHERE call_sid = ?`,
          ).run(instance, now + leaseMs, now, callSid);
        }
        return due.map((callSid) => this.#get(callSid)!);
      })
    );
  }

  release(instance: string, now: number): Promise<number> {
    return asPromise(() =>
      Number(
        this.#sql(
          `UPDATE analyses SET state = 'pending', next_try_at = ?, claimed_by = NULL, claimed_until = NULL,
             updated_at = ? WHERE state = 'running' AND claimed_by = ?`,
        ).run(now, now, instance).changes,
      )
    );
  }

  retry(callSid: string, nextTryAt: number, error: string, at: number): Promise<void> {
    return asPromise(() => {
      this.#sql(
        `UPDATE analyses SET state = 'pending', next_try_at = ?, error = ?, claimed_by = NULL,
           claimed_until = NULL, updated_at = ? WHERE call_sid = ? AND state = 'running'`,
      ).run(nextTryAt, error, at, callSid);
    });
  }

  succeed(callSid: string, success: AnalysisSuccess): Promise<void> {
    return asPromise(() => {
      this.#sql(
        `UPDATE analyses SET state = 'done', outcome = ?, usage = ?, cost_usd = ?, error = NULL,
           claimed_by = NULL, claimed_until = NULL, updated_at = ? WHERE call_sid = ?`,
      ).run(
        JSON.stringify(success.outcome),
        JSON.stringify(success.usage),
        success.costUsd,
        success.at,
        callSid,
      );
    });
  }

  fail(callSid: string, error: string, at: number): Promise<void> {
    return asPromise(() => {
      this.#sql(
        `UPDATE analyses SET state = 'failed', error = ?, claimed_by = NULL, claimed_until = NULL,
           updated_at = ? WHERE call_sid = ?`,
      ).run(error, at, callSid);
    });
  }

  get(callSid: string): Promise<AnalysisJob | undefined> {
    return asPromise(() => this.#get(callSid));
  }

  getMany(callSids: readonly string[]): Promise<Map<string, AnalysisJob>> {
    return asPromise(() => {
      const jobs = new Map<string, AnalysisJob>();
      for (const callSid of callSids) {
        const job = this.#get(callSid);
        if (job !== undefined) jobs.set(callSid, job);
      }
      return jobs;
    });
  }

  nextTryAt(): Promise<number | undefined> {
    return asPromise(() => {
      const row = this.#sql("SELECT MIN(next_try_at) AS at FROM analyses WHERE state = 'pending'").get();
      return row?.at === null || row?.at === undefined ? undefined : Number(row.at);
    });
  }

  close(): void {
    this.#db.close();
  }

  #get(callSid: string): AnalysisJob | undefined {
    const row = this.#sql("SELECT * FROM analyses WHERE call_sid = ?").get(callSid);
    return row === undefined ? undefined : toJob(row);
  }
}

function toJob(row: Record<string, unknown>): AnalysisJob {
  const json = (value: unknown) => value === null || value === undefined ? null : JSON.parse(String(value));
  return {
    callSid: String(row.call_sid),
    state: String(row.state) as AnalysisState,
    attempts: Number(row.attempts),
    nextTryAt: Number(row.next_try_at),
    spec: JSON.parse(String(row.spec)),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    error: row.error === null ? null : String(row.error),
    outcome: json(row.outcome),
    usage: json(row.usage),
    costUsd: row.cost_usd === null ? null : Number(row.cost_usd),
  };
}
