/**
 * Leads on Postgres (the {@linkcode Leads} port): listed and paged by name (case-insensitive) then
 * id, found by phone for the import's de-duplication, as the SQLite adapter does.
 *
 * @module
 */

import type { Sql } from "postgres";
import type { Lead, LeadCall, LeadCursor, LeadInput, LeadUpdate } from "../lead.ts";
import type { Leads } from "../ports.ts";

interface LeadRow {
  id: string | number;
  name: string;
  phone: string;
  company: string;
  notes: string;
  fields: Record<string, string>;
  created_at: string | number;
  updated_at: string | number;
}

/** The leads of the database `sql` is connected to. `close` does nothing: the store ends the pool. */
export function postgresLeads(sql: Sql, now: () => number = Date.now): Leads {
  return new PostgresLeads(sql, now);
}

/** The leads table on Postgres. */
class PostgresLeads implements Leads {
  readonly #sql: Sql;
  readonly #now: () => number;

  constructor(sql: Sql, now: () => number) {
    this.#sql = sql;
    this.#now = now;
  }

  async list(): Promise<Lead[]> {
    return (await this.#sql<LeadRow[]>`SELECT * FROM leads ORDER BY lower(name), id`).map(toLead);
  }

  async page(limit: number, after?: LeadCursor): Promise<Lead[]> {
    const rows = after === undefined
      ? await this.#sql<LeadRow[]>`SELECT * FROM leads ORDER BY lower(name), id LIMIT ${limit}`
      : await this.#sql<
        LeadRow[]
      >`SELECT * FROM leads WHERE (lower(name), id) > (lower(${after.name}), ${after.id})
          ORDER BY lower(name), id LIMIT ${limit}`;
    return rows.map(toLead);
  }

  async count(): Promise<number> {
    const rows = await this.#sql<{ n: string }[]>`SELECT COUNT(*) AS n FROM leads`;
    return Number(rows[0]!.n);
  }

  async findByPhone(phone: string): Promise<Lead | undefined> {
    const rows = await this.#sql<LeadRow[]>`SELECT * FROM leads WHERE phone = ${phone} ORDER BY id LIMIT 1`;
    return rows[0] === undefined ? undefined : toLead(rows[0]);
  }

  importBatch(
    creates: readonly LeadInput[],
    updates: readonly LeadUpdate[],
  ): Promise<{ created: Lead[]; updated: Lead[] }> {
    return this.#importBatch(creates, updates);
  }

  async get(id: number): Promise<Lead | undefined> {
    const rows = await this.#sql<LeadRow[]>`SELECT * FROM leads WHERE id = ${id}`;
    return rows[0] === undefined ? undefined : toLead(rows[0]);
  }

  async create(leads: readonly LeadInput[]): Promise<Lead[]> {
    return (await this.#importBatch(leads, [])).created;
  }

  async update(id: number, changes: Partial<LeadInput>): Promise<Lead | undefined> {
    const { updated } = await this.#importBatch([], [{ id, changes }]);
    return updated[0];
  }

  async delete(id: number): Promise<boolean> {
    const rows = await this.#sql`DELETE FROM leads WHERE id = ${id} RETURNING id`;
    return rows.length > 0;
  }

  async callsOf(phone: string): Promise<LeadCall[]> {
    const rows = await this.#sql<
      {
        call_sid: string;
        created_at: string;
        persona: string | null;
        direction: string | null;
        status: string | null;
        end_reason: string | null;
      }[]
    >`
      SELECT call_sid, created_at, persona, record->>'direction' AS direction, record->>'status' AS status,
        record->>'endReason' AS end_reason
      FROM calls WHERE to_number = ${phone} OR from_number = ${phone} ORDER BY created_at DESC LIMIT 100`;
    return rows.map((row) => ({
      callSid: row.call_sid,
      createdAt: Number(row.created_at),
      persona: row.persona,
      direction: row.direction,
      status: row.status,
      endReason: row.end_reason,
    }));
  }

  close(): void {}

  async #importBatch(
    creates: readonly LeadInput[],
    updates: readonly LeadUpdate[],
  ): Promise<{ created: Lead[]; updated: Lead[] }> {
    return await this.#sql.begin(async (tx) => {
      const created: Lead[] = [];
      const updated: Lead[] = [];
      for (const lead of creates) {
        const at = this.#now();
        const rows = await tx<LeadRow[]>`
          INSERT INTO leads (name, phone, company, notes, fields, created_at, updated_at)
          VALUES (${lead.name}, ${lead.phone}, ${lead.company}, ${lead.notes}, ${
          tx.json(lead.fields)
        }, ${at}, ${at})
          RETURNING *`;
        created.push(toLead(rows[0]!));
      }
      for (const { id, changes } of updates) {
        const rows = await tx<LeadRow[]>`SELECT * FROM leads WHERE id = ${id} FOR UPDATE`;
        if (rows[0] === undefined) continue;
        const next = { ...toLead(rows[0]), ...changes };
        const written = await tx<LeadRow[]>`
          UPDATE leads SET name = ${next.name}, phone = ${next.phone}, company = ${next.company},
            notes = ${next.notes}, fields = ${tx.json(next.fields)}, updated_at = ${this.#now()}
          WHERE id = ${id} RETURNING *`;
        updated.push(toLead(written[0]!));
      }
      return { created, updated };
    }) as { created: Lead[]; updated: Lead[] };
  }
}

function toLead(row: LeadRow): Lead {
  return {
    id: Number(row.id),
    name: row.name,
    phone: row.phone,
    company: row.company,
    notes: row.notes,
    fields: row.fields,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
