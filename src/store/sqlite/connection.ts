/**
 * One SQLite connection to the call database for a store beside the call records (leads, campaigns, the
 * webhook outbox, analyses): opened with its busy timeout and migrated, with cached prepared
 * statements and an immediate-mode transaction helper.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { dirname } from "node:path";
import { migrate } from "./schema.ts";

/** An open connection and its helpers. */
export interface SqliteConnection {
  db: DatabaseSync;
  /** The prepared statement for `text`, prepared once. */
  sql(text: string): StatementSync;
  /** Runs `body` inside `BEGIN IMMEDIATE` … `COMMIT`, rolled back when it throws. */
  transaction<T>(body: () => T): T;
  /** Drops the prepared statements and closes the connection (a second call does nothing). */
  close(): void;
}

/**
 * Opens (creating its folder) and migrates the database at `path`, waiting up to `busyTimeoutMs` for
 * another connection's lock. Throws, with the connection closed, when it cannot.
 */
export function openSqliteConnection(path: string, busyTimeoutMs: number): SqliteConnection {
  if (path !== ":memory:") Deno.mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    migrate(db, `call database "${path}"`);
  } catch (error) {
    db.close();
    throw error;
  }
  const statements = new Map<string, StatementSync>();
  return {
    db,
    sql(text) {
      let statement = statements.get(text);
      if (statement === undefined) statements.set(text, statement = db.prepare(text));
      return statement;
    },
    transaction(body) {
      db.exec("BEGIN IMMEDIATE");
      try {
        const result = body();
        db.exec("COMMIT");
        return result;
      } catch (error) {
        // A failed COMMIT may already have ended the transaction: ROLLBACK then would hide the error.
        if (db.isTransaction) db.exec("ROLLBACK");
        throw error;
      }
    },
    close() {
      statements.clear();
      if (db.isOpen) db.close();
    },
  };
}
