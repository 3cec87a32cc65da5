/**
 * Post-call analyses on Postgres (the {@linkcode AnalysisJobs} port): a claim is one statement with
 * `FOR UPDATE SKIP LOCKED`, so several instances never run one analysis at once.
 *
 * @module
 */

import type { Sql } from "postgres";
import type {
  AnalysisJob,
  AnalysisSpec,
  AnalysisState,
  AnalysisSuccess,
  AnalysisUsage,
} from "../analysis_job.ts";
import type { AnalysisJobs } from "../ports.ts";

interface AnalysisRow {
  call_sid: string;
  state: string;
  attempts: number;
  next_try_at: string | number;
  spec: AnalysisSpec;
  created_at: string | number;
  updated_at: string | number;
  error: string | null;
  outcome: Record<string, unknown> | null;
  usage: AnalysisUsage | null;
  cost_usd: number | null;
}

/** The analyses of the database `sql` is connected to. `close` does nothing: the store ends the pool. */
export function postgresAnalyses(sql: Sql): AnalysisJobs {
  return new PostgresAnalyses(sql);
}

/** The analyses table on Postgres. */
class PostgresAnalyses implements AnalysisJobs {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async enqueue(callSid: string, spec: AnalysisSpec, at: number): Promise<boolean> {
    const rows = await this.#sql`
      INSERT INTO analyses (call_sid, state, next_try_at, spec, created_at, updated_at)
      VALUES (${callSid}, 'pending', ${at}, ${this.#sql.json(structuredClone(spec) as never)}, ${at}, ${at})
      ON CONFLICT (call_sid) DO NOTHING RETURNING call_sid`;
    return rows.length > 0;
  }

  async claim(instance: string, now: number, limit: number, leaseMs: number): Promise<AnalysisJob[]> {
    const rows = await this.#sql<AnalysisRow[]>`
      UPDATE analyses SET state = 'running', claimed_by = ${instance}, claimed_until = ${now + leaseMs},
        attempts = attempts + 1, updated_at = ${now}
      WHERE call_sid IN (
        SELECT call_sid FROM analyses
        WHERE (state = 'pending' AND next_try_at <= ${now}) OR (state = 'running' AND claimed_until <= ${now})
        ORDER BY next_try_at, call_sid LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING *`;
    return rows.map(toJob).sort((a, b) => a.nextTryAt - b.nextTryAt || a.callSid.localeCompare(b.callSid));
  }

  async release(instance: string, now: number): Promise<number> {
    const rows = await this.#sql`
      UPDATE analyses SET state = 'pending', next_try_at = ${now}, claimed_by = NULL, claimed_until = NULL,
        updated_at = ${now}
      WHERE state = 'running' AND claimed_by = ${instance} RETURNING call_sid`;
    return rows.length;
  }

  async retry(callSid: string, nextTryAt: number, error: string, at: number): Promise<void> {
    await this.#sql`
      UPDATE analyses SET state = 'pending', next_try_at = ${nextTryAt}, error = ${error}, claimed_by = NULL,
        claimed_until = NULL, updated_at = ${at}
      WHERE call_sid = ${callSid} AND state = 'running'`;
  }

  async succeed(callSid: string, success: AnalysisSuccess): Promise<void> {
    const sql = this.#sql;
    await sql`
      UPDATE analyses SET state = 'done', outcome = ${sql.json(structuredClone(success.outcome) as never)},
        usage = ${sql.json({ ...success.usage })}, cost_usd = ${success.costUsd}, error = NULL,
        claimed_by = NULL, claimed_until = NULL, updated_at = ${success.at}
      WHERE call_sid = ${callSid}`;
  }

  async fail(callSid: string, error: string, at: number): Promise<void> {
    await this.#sql`
      UPDATE analyses SET state = 'failed', error = ${error}, claimed_by = NULL, claimed_until = NULL,
        updated_at = ${at}
      WHERE call_sid = ${callSid}`;
  }

  async get(callSid: string): Promise<AnalysisJob | undefined> {
    const rows = await this.#sql<AnalysisRow[]>`SELECT * FROM analyses WHERE call_sid = ${callSid}`;
    return rows[0] === undefined ? undefined : toJob(rows[0]);
  }

  async getMany(callSids: readonly string[]): Promise<Map<string, AnalysisJob>> {
    const jobs = new Map<string, AnalysisJob>();
    if (callSids.length === 0) return jobs;
    const sql = this.#sql;
    const rows = await sql<AnalysisRow[]>`SELECT * FROM analyses WHERE call_sid IN ${sql([...callSids])}`;
    for (const row of rows) jobs.set(row.call_sid, toJob(row));
    return jobs;
  }

  async nextTryAt(): Promise<number | undefined> {
    const rows = await this.#sql<{ at: string | number | null }[]>`
      SELECT MIN(next_try_at) AS at FROM analyses WHERE state = 'pending'`;
    const at = rows[0]?.at;
    return at === null || at === undefined ? undefined : Number(at);
  }

  close(): void {}
}

function toJob(row: AnalysisRow): AnalysisJob {
  return {
    callSid: row.call_sid,
    state: row.state as AnalysisState,
    attempts: Number(row.attempts),
    nextTryAt: Number(row.next_try_at),
    spec: row.spec,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    error: row.error,
    outcome: row.outcome,
    usage: row.usage,
    costUsd: row.cost_usd === null ? null : Number(row.cost_usd),
  };
}
