/**
 * Quoting what a request sent in the error that refuses it: short, and with no control character, so
 * that a hostile value can neither flood the message nor break the line it is shown or logged on.
 *
 * @module
 */

/** Characters of a value quoted in an error message at most. */
const MAX_QUOTED_CHARS = 40;

/**
 * `text` for an error message: control characters as `?`, cut to 40 characters with `…`.
 *
 * @example
 * ```ts
 * clip("+1 415\n555"); // "+1 415?555"
 * ```
 */
export function clip(text: string): string {
  // deno-lint-ignore no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, "?");
  return clean.length > MAX_QUOTED_CHARS ? `${clean.slice(0, MAX_QUOTED_CHARS)}…` : clean;
}

/**
 * What a JSON value is, for an error message: a string quoted and clipped, a number or boolean with
 * its type, and only the kind of anything larger.
 *
 * @example
 * ```ts
 * describeValue(42); // "number 42"
 * describeValue(["a"]); // "an array"
 * ```
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `"${clip(value)}"`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}
