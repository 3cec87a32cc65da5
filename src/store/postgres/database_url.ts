/**
 * DATABASE_URL as it may be printed. Its own module, without the driver: the banner names the
 * database before `src/startup.ts` loads the Postgres store (and npm:postgres) on demand.
 *
 * @module
 */

/**
 * `url` as safe to print: its host, port and database, never the user's password.
 *
 * @example
 * ```ts
 * describeDatabaseUrl("postgres://parley:secret@db.internal:5432/parley"); // "db.internal:5432/parley"
 * ```
 */
export function describeDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const host = parsed.hostname === "" ? "(local socket)" : parsed.hostname;
    return `${host}${parsed.port === "" ? "" : `:${parsed.port}`}${
      parsed.pathname.replace(/[^\x20-\x7e]/g, "?")
    }`;
  } catch {
    return "(an unreadable URL)";
  }
}
