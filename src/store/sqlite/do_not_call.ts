/**
 * The do-not-call list in the call database: numbers a campaign never dials, each with where it came
 * from. It shares the campaign store's connection (`campaigns.ts`).
 *
 * @module
 */

import { asPromise, type SqliteConnection } from "./connection.ts";
import type { DoNotCallEntry } from "../campaign.ts";
import type { DoNotCallList } from "../ports.ts";

/** The do-not-call list, over the campaign store's connection. */
export function sqliteDoNotCall({ sql, transaction }: SqliteConnection): DoNotCallList {
  return {
    list: () =>
      asPromise(() =>
        sql("SELECT * FROM do_not_call ORDER BY added_at DESC, phone").all().map((row) => ({
          phone: String(row.phone),
          source: String(row.source),
          addedAt: Number(row.added_at),
        } satisfies DoNotCallEntry))
      ),
    has: (phone) =>
      asPromise(() => sql("SELECT 1 FROM do_not_call WHERE phone = ?").get(phone) !== undefined),
    add: (phones, source, at) =>
      asPromise(() =>
        transaction(() => {
          let added = 0;
          for (const phone of phones) {
            added += Number(
              sql("INSERT OR IGNORE INTO do_not_call (phone, source, added_at) VALUES (?, ?, ?)")
                .run(phone, source, at).changes,
            );
          }
          return added;
        })
      ),
    remove: (phone) =>
      asPromise(() => Number(sql("DELETE FROM do_not_call WHERE phone = ?").run(phone).changes) > 0),
  };
}
