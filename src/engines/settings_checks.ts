/**
 * Small checks with which persona validation and each engine's persona rules report a bad field in
 * the same words: `<field>: <what is wrong>; <the fix>`.
 *
 * @module
 */

/** Reports one problem: the field inside the persona and what is wrong. */
export type Report = (field: string, detail: string) => void;

/** The range of a number field. */
export interface NumberRange {
  min: number;
  max: number;
  /** Milliseconds: whole numbers only. */
  integer: boolean;
}

/** Reports a value that is set but not a non-empty string. */
export function checkText(value: unknown, field: string, fix: string, report: Report): void {
  if (value === undefined) return;
  if (typeof value !== "string") report(field, `${describe(value)} is not a string; ${fix}`);
  else if (value.trim() === "") report(field, `empty; ${fix}`);
}

/** Reports a value that is set but not a number in `range`. */
export function checkNumber(value: unknown, field: string, range: NumberRange, report: Report): void {
  if (value === undefined) return;
  const fix = range.integer
    ? `use a whole number of milliseconds from ${range.min} to ${range.max}`
    : `use a number from ${range.min} to ${range.max}`;
  if (typeof value !== "number") report(field, `${describe(value)} is not a number; ${fix}`);
  else if (range.integer && !Number.isInteger(value)) {
    report(field, `${describe(value)} is not a whole number; ${fix}`);
  } else if (!(value >= range.min && value <= range.max)) {
    report(field, `${describe(value)} is out of range; ${fix}`);
  }
}

/** Reports a value that is set but not one of `allowed`. */
export function checkOneOf(value: unknown, field: string, allowed: readonly string[], report: Report): void {
  if (value === undefined) return;
  if (typeof value === "string" && allowed.includes(value)) return;
  report(field, `${describe(value)} is not one of ${allowed.join(", ")}`);
}

/**
 * The detail for an unknown field: a likely intended name (from `aliases`, names people bring from
 * other tools, or a near spelling), or the list of known ones.
 */
export function unknownField(
  key: string,
  known: readonly string[],
  aliases: Readonly<Record<string, string>> = {},
): string {
  const alias = aliases[normalize(key)];
  const guess = alias !== undefined && known.includes(alias) ? alias : closest(key, known);
  if (guess === undefined) return `unknown field; known fields are ${known.join(", ")}`;
  // `prefix_padding_ms` is right on the wire but not in a persona file.
  const camel = normalize(guess) === normalize(key) ? " (persona fields are camelCase)" : "";
  return `unknown field; did you mean "${guess}"?${camel}`;
}

/** The known name nearest to `name`, if it is near enough to be a typo. */
export function closest(name: string, known: readonly string[]): string | undefined {
  const wanted = normalize(name);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(wanted, normalize(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const allowed = Math.max(1, Math.floor(wanted.length / 4));
  return bestDistance <= allowed ? best : undefined;
}

/** A name lower-cased without `_`, `-` or spaces, for comparing spellings. */
export function normalize(name: string): string {
  return name.toLowerCase().replace(/[_\-\s]/g, "");
}

/** Edit distance counting a swap of neighbours as one edit (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/** A plain object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A value as it appears in a message: strings quoted, objects by kind. */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "undefined") {
    return String(value);
  }
  if (typeof value === "bigint") return `${value}n`;
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return "a symbol";
  return "an object";
}
