/**
 * The do-not-call list on Postgres (the {@linkcode DoNotCallList} port), shared by every instance:
 * numbers a campaign never dials, each with where it came from.
 *
 * @module
 */

import type { Sql } from "postgres";
import type { DoNotCallEntry } from "../campaign.ts";
import type { DoNotCallList } from "../ports.ts";

/** The do-not-call list of the database `sql` is connected to. */
export function postgresDoNotCall(sql: Sql): DoNotCallList {
  return {
    async list() {
      const rows = await sql<{ phone: string; source: string; added_at: string }[]>`
        SELECT * FROM do_not_call ORDER BY added_at DESC, phone`;
      return rows.map((row) => ({
        phone: row.phone,
        source: row.source,
        addedAt: Number(row.added_at),
      } satisfies DoNotCallEntry));
    },
    async has(phone) {
      return (await sql`SELECT 1 FROM do_not_call WHERE phone = ${phone}`).length > 0;
    },
    async add(phones, source, at) {
      if (phones.length === 0) return 0;
      // One parameter for the whole list (a CSV import may bring thousands).
      const rows = await sql`
        INSERT INTO do_not_call (phone, source, added_at)
        SELECT DISTINCT phone, ${source}, ${at}::bigint FROM jsonb_array_elements_text(${
        sql.json([...phones])
      }) AS phone
        ON CONFLICT (phone) DO NOTHING
        RETURNING phone`;
      return rows.length;
    },
    async remove(phone) {
      return (await sql`DELETE FROM do_not_call WHERE phone = ${phone} RETURNING phone`).length > 0;
    },
  };
}
