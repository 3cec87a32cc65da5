/**
 * One SQLite connection to the call database for a store beside the call records (leads, campaigns, the
 * webhook outbox, analyses): opened with the call store's busy timeout and migrated, with cached
 * prepared statements and an immediate-mode transaction helper.
 *
 * `node:sqlite` is synchronous and these connections run on the server's event loop, beside every
 * call's audio: a write that meets another process's lock on `parley.db` (a rehearsal on the same
 * `DATA_DIR`, an admin tool) waits at most {@linkcode BUSY_TIMEOUT_MS} (20 ms), then fails with
 * `database is locked`. Each store's methods turn that throw into a rejection, and their callers retry
 * later.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { dirname } from "node:path";
import { migrate } from "./schema.ts";
import { BUSY_TIMEOUT_MS } from "./call_store.ts";

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
 * Opens (creating its folder) and migrates the database at `path`, waiting up to
 * {@linkcode BUSY_TIMEOUT_MS} for another connection's lock, as the call store does: every connection
 * on the event loop has the same bound. Throws, with the connection closed, when it cannot.
 */
export function openSqliteConnection(path: string): SqliteConnection {
  if (path !== ":memory:") Deno.mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
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

/**
 * Runs `body` (synchronous SQLite work) now and answers as the async ports do: its value, or its throw
 * (`database is locked` past the busy timeout, say) as a rejection, never a throw at the caller.
 */
export function asPromise<T>(body: () => T): Promise<T> {
  try {
    return Promise.resolve(body());
  } catch (error) {
    return Promise.reject(error);
  }
}
