/**
 * DATABASE_URL as it may be printed, and its password, which never is. Its own module, without the
 * driver: the banner names the database before `src/startup.ts` loads the Postgres store (and
 * npm:postgres) on demand, and the configuration hands the password to the logger to mask.
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

/**
 * The password in `url`, as written and decoded (none without one), for masking: read by the URL
 * parser, or, where it cannot read the URL (an unencoded `#`, `?` or `/` in the password), as what lies
 * between the user's `:` and the last `@`.
 *
 * @example
 * ```ts
 * databaseUrlPasswords("postgres://parley:Xy#9@db:5432/parley"); // ["Xy#9"]
 * ```
 */
export function databaseUrlPasswords(url: string): string[] {
  let raw: string;
  try {
    raw = new URL(url).password;
  } catch {
    raw = /^[a-z][a-z0-9+.-]*:\/*[^:@/]*:(.*)@[^@]*$/is.exec(url)?.[1] ?? "";
  }
  if (raw === "") return [];
  let decoded = raw;
  try {
    decoded = decodeURIComponent(raw);
  } catch { /* written, not encoded */ }
  return decoded === raw ? [raw] : [raw, decoded];
}
