/**
 * Post-call analyses in the call database, over their own SQLite connection. A claim is one
 * `BEGIN IMMEDIATE` transaction (SQLite's write lock), so two processes on one `DATA_DIR` never run
 * one analysis at once.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { openSqliteConnection, type SqliteConnection } from "./connection.ts";
import type { AnalysisJob, AnalysisSpec, AnalysisState, AnalysisSuccess } from "../analysis_job.ts";
import type { AnalysisJobs } from "../ports.ts";

/** An analysis write may wait this long for another process's lock, ms (off the audio path). */
const ANALYSIS_BUSY_TIMEOUT_MS = 1_000;

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
  return new SqliteAnalysisStore(openSqliteConnection(path, ANALYSIS_BUSY_TIMEOUT_MS));
}

/** The analyses table over its own SQLite connection. */
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
    return Promise.resolve(
      Number(
        this.#sql(
          `INSERT OR IGNORE INTO analyses (call_sid, state, next_try_at, spec, created_at, updated_at)
           VALUES (?, 'pending', ?, ?, ?, ?)`,
        ).run(callSid, at, JSON.stringify(spec), at, at).changes,
      ) > 0,
    );
  }

  claim(instance: string, now: number, limit: number, leaseMs: number): Promise<AnalysisJob[]> {
    return Promise.resolve(this.#transaction(() => {
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
    }));
  }

  release(instance: string, now: number): Promise<number> {
    return Promise.resolve(
      Number(
        this.#sql(
          `UPDATE analyses SET state = 'pending', next_try_at = ?, claimed_by = NULL, claimed_until = NULL,
             updated_at = ? WHERE state = 'running' AND claimed_by = ?`,
        ).run(now, now, instance).changes,
      ),
    );
  }

  retry(callSid: string, nextTryAt: number, error: string, at: number): Promise<void> {
    this.#sql(
      `UPDATE analyses SET state = 'pending', next_try_at = ?, error = ?, claimed_by = NULL,
         claimed_until = NULL, updated_at = ? WHERE call_sid = ? AND state = 'running'`,
    ).run(nextTryAt, error, at, callSid);
    return Promise.resolve();
  }

  succeed(callSid: string, success: AnalysisSuccess): Promise<void> {
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
    return Promise.resolve();
  }

  fail(callSid: string, error: string, at: number): Promise<void> {
    this.#sql(
      `UPDATE analyses SET state = 'failed', error = ?, claimed_by = NULL, claimed_until = NULL,
         updated_at = ? WHERE call_sid = ?`,
    ).run(error, at, callSid);
    return Promise.resolve();
  }

  get(callSid: string): Promise<AnalysisJob | undefined> {
    return Promise.resolve(this.#get(callSid));
  }

  getMany(callSids: readonly string[]): Promise<Map<string, AnalysisJob>> {
    const jobs = new Map<string, AnalysisJob>();
    for (const callSid of callSids) {
      const job = this.#get(callSid);
      if (job !== undefined) jobs.set(callSid, job);
    }
    return Promise.resolve(jobs);
  }

  nextTryAt(): Promise<number | undefined> {
    const row = this.#sql("SELECT MIN(next_try_at) AS at FROM analyses WHERE state = 'pending'").get();
    return Promise.resolve(row?.at === null || row?.at === undefined ? undefined : Number(row.at));
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
