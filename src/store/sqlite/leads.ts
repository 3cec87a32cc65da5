/**
 * Leads: the people the calling page calls, kept in the call database (`leads` table) over their
 * own SQLite connection, so the call store's write path is untouched. A lead's calls are the calls
 * to or from its phone number.
 *
 * @module
 */

import { asPromise, openSqliteConnection, type SqliteConnection } from "./connection.ts";
import type { Lead, LeadCall, LeadCursor, LeadInput, LeadUpdate } from "../lead.ts";
import type { Leads } from "../ports.ts";

export type { Lead, LeadCall, LeadCursor, LeadInput, LeadUpdate } from "../lead.ts";
/** The leads table (the {@linkcode Leads} port). */
export type LeadStore = Leads;

/** Options for {@linkcode openLeadStore}. */
export interface LeadStoreOptions {
  /** Clock, epoch ms. @default Date.now */
  now?: () => number;
}

/**
 * Opens the leads table of the call database at `path` (creating and migrating it if needed).
 *
 * @example
 * ```ts
 * const leads = openLeadStore(callDatabasePath(config.dataDir));
 * leads.create([{ name: "Ada", phone: "+14155550100", company: "", notes: "", fields: {} }]);
 * ```
 */
export function openLeadStore(path: string, options: LeadStoreOptions = {}): LeadStore {
  // As short a busy timeout as the call store's: a locked database never stalls the calls on this event loop.
  return new SqliteLeadStore(openSqliteConnection(path), options.now ?? Date.now);
}

/** The leads table over its own SQLite connection. */
class SqliteLeadStore implements LeadStore {
  readonly #connection: SqliteConnection;
  readonly #sql: SqliteConnection["sql"];
  readonly #now: () => number;

  constructor(connection: SqliteConnection, now: () => number) {
    this.#connection = connection;
    this.#sql = connection.sql;
    this.#now = now;
  }

  // The port is async (a networked adapter needs it); SQLite answers at once: each method runs via `attempt`.
  list(): Promise<Lead[]> {
    return asPromise(() =>
      this.#sql("SELECT * FROM leads ORDER BY name COLLATE NOCASE, id").all().map(toLead)
    );
  }

  page(limit: number, after?: LeadCursor): Promise<Lead[]> {
    return asPromise(() => {
      const rows = after === undefined
        ? this.#sql("SELECT * FROM leads ORDER BY name COLLATE NOCASE, id LIMIT ?").all(limit)
        : this.#sql(
          `SELECT * FROM leads WHERE (name COLLATE NOCASE, id) > (?, ?)
           ORDER BY name COLLATE NOCASE, id LIMIT ?`,
        ).all(after.name, after.id, limit);
      return rows.map(toLead);
    });
  }

  count(): Promise<number> {
    return asPromise(() => Number(this.#sql("SELECT COUNT(*) AS n FROM leads").get()!.n));
  }

  findByPhone(phone: string): Promise<Lead | undefined> {
    return asPromise(() => {
      const row = this.#sql("SELECT * FROM leads WHERE phone = ? ORDER BY id LIMIT 1").get(phone);
      return row === undefined ? undefined : toLead(row);
    });
  }

  importBatch(
    creates: readonly LeadInput[],
    updates: readonly LeadUpdate[],
  ): Promise<{ created: Lead[]; updated: Lead[] }> {
    return asPromise(() => this.#importBatch(creates, updates));
  }

  get(id: number): Promise<Lead | undefined> {
    return asPromise(() => this.#get(id));
  }

  create(leads: readonly LeadInput[]): Promise<Lead[]> {
    return asPromise(() => this.#importBatch(leads, []).created);
  }

  update(id: number, changes: Partial<LeadInput>): Promise<Lead | undefined> {
    return asPromise(() => this.#write(id, changes) ? this.#get(id) : undefined);
  }

  delete(id: number): Promise<boolean> {
    return asPromise(() => Number(this.#sql("DELETE FROM leads WHERE id = ?").run(id).changes) > 0);
  }

  callsOf(phone: string): Promise<LeadCall[]> {
    return asPromise(() =>
      this.#sql(
        `SELECT call_sid, created_at, persona, direction, status, end_reason FROM calls
         WHERE to_number = ? OR from_number = ? ORDER BY created_at DESC LIMIT 100`,
      ).all(phone, phone).map((row) => ({
        callSid: String(row.call_sid),
        createdAt: Number(row.created_at),
        persona: textOrNull(row.persona),
        direction: textOrNull(row.direction),
        status: textOrNull(row.status),
        endReason: textOrNull(row.end_reason),
      }))
    );
  }

  close(): void {
    this.#connection.close();
  }

  #get(id: number): Lead | undefined {
    const row = this.#sql("SELECT * FROM leads WHERE id = ?").get(id);
    return row === undefined ? undefined : toLead(row);
  }

  #importBatch(
    creates: readonly LeadInput[],
    updates: readonly LeadUpdate[],
  ): { created: Lead[]; updated: Lead[] } {
    const ids: number[] = [];
    const updatedIds: number[] = [];
    this.#connection.transaction(() => {
      for (const lead of creates) {
        const at = this.#now();
        const result = this.#sql(
          `INSERT INTO leads (name, phone, company, notes, fields, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        ).run(lead.name, lead.phone, lead.company, lead.notes, JSON.stringify(lead.fields), at, at);
        ids.push(Number(result.lastInsertRowid));
      }
      for (const { id, changes } of updates) if (this.#write(id, changes)) updatedIds.push(id);
    });
    return { created: ids.map((id) => this.#get(id)!), updated: updatedIds.map((id) => this.#get(id)!) };
  }

  /** Replaces the given fields of lead `id`; false for an unknown id. */
  #write(id: number, changes: Partial<LeadInput>): boolean {
    const lead = this.#get(id);
    if (lead === undefined) return false;
    const next = { ...lead, ...changes };
    this.#sql(
      `UPDATE leads SET name = ?, phone = ?, company = ?, notes = ?, fields = ?, updated_at = ?
       WHERE id = ?`,
    ).run(next.name, next.phone, next.company, next.notes, JSON.stringify(next.fields), this.#now(), id);
    return true;
  }
}

function toLead(row: Record<string, unknown>): Lead {
  let fields: Record<string, string> = {};
  try {
    const parsed: unknown = JSON.parse(String(row.fields));
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
      fields = parsed as Record<string, string>;
    }
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
  }
  return {
    id: Number(row.id),
    name: String(row.name),
    phone: String(row.phone),
    company: String(row.company),
    notes: String(row.notes),
    fields,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

function textOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}
