/**
 * Sign-in sessions and used stream tokens on Postgres, shared by every instance: a browser signed in
 * on one instance is signed in on all, and a stream token claimed on one is refused on the others
 * (the claim is one `INSERT … ON CONFLICT DO NOTHING`: of concurrent claims exactly one inserts).
 *
 * @module
 */

import type { Sql } from "postgres";
import type { SignInSessions, UsedStreamTokens } from "../ports.ts";
import { repeatable } from "./dead_connection_retry.ts";

/** Sign-in sessions in the `sign_in_sessions` table. */
export function postgresSignInSessions(sql: Sql): SignInSessions {
  return {
    // Every write here is safe to run twice (a DELETE by key or by time, an upsert of the same row), so
    // each runs once more on a fresh connection when the pooled one died (a restart a moment ago): a
    // sign-in or sign-out right after a failover works instead of answering 500.
    async create(id, expiresAt, now) {
      await repeatable(sql)`DELETE FROM sign_in_sessions WHERE expires_at <= ${now}`;
      await repeatable(sql)`INSERT INTO sign_in_sessions (id, expires_at) VALUES (${id}, ${expiresAt})
        ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`;
    },
    async isLive(id, now) {
      const rows = await sql<
        { expires_at: string }[]
      >`SELECT expires_at FROM sign_in_sessions WHERE id = ${id}`;
      if (rows[0] === undefined) return false;
      if (Number(rows[0].expires_at) > now) return true;
      await repeatable(sql)`DELETE FROM sign_in_sessions WHERE id = ${id}`;
      return false;
    },
    async end(id) {
      await repeatable(sql)`DELETE FROM sign_in_sessions WHERE id = ${id}`;
    },
  };
}

/** The used-token ledger in the `used_stream_tokens` table, pruned at expiry. */
export function postgresUsedStreamTokens(sql: Sql): UsedStreamTokens {
  return {
    async claim(token, expiresAt, now) {
      // Both run once more on a fresh connection when the pooled one is dead (a restart a moment
      // ago): the DELETE is idempotent, and an INSERT whose answer was lost after it committed makes
      // the retry answer "used" — the socket refused, as a failed claim would be anyway.
      await repeatable(sql)`DELETE FROM used_stream_tokens WHERE expires_at < ${now}`;
      const rows = await repeatable(sql)<{ token: string }[]>`
        INSERT INTO used_stream_tokens (token, expires_at) VALUES (${token}, ${expiresAt})
        ON CONFLICT (token) DO NOTHING RETURNING token`;
      return rows.length === 1;
    },
  };
}
