/**
 * A small RFC 4180 CSV reader for lead imports: commas, double-quoted fields with `""` escapes and
 * line breaks inside quotes, CRLF or LF line ends, a leading byte-order mark.
 *
 * @module
 */

/** One record with the 1-based line number it starts on. */
export interface CsvRecord {
  line: number;
  cells: string[];
}

/**
 * Splits `text` into records; blank lines are skipped.
 *
 * @example
 * ```ts
 * parseCsv('name,phone\n"Lovelace, Ada",+14155550100\n');
 * // [{ line: 1, cells: ["name", "phone"] }, { line: 2, cells: ["Lovelace, Ada", "+14155550100"] }]
 * ```
 */
export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let cells: string[] = [];
  let cell = "";
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  let touched = false;
  const source = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const endRecord = () => {
    if (touched || cells.length > 0) records.push({ line: recordLine, cells: [...cells, cell] });
    cells = [];
    cell = "";
    touched = false;
  };
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (quoted) {
      if (c === '"' && source[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else {
        if (c === "\n") line++;
        cell += c;
      }
      continue;
    }
    if (c === '"' && cell === "") {
      quoted = true;
      touched = true;
    } else if (c === ",") {
      cells.push(cell);
      cell = "";
      touched = true;
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && source[i + 1] === "\n") i++;
      endRecord();
      line++;
      recordLine = line;
    } else {
      cell += c;
      touched = true;
    }
  }
  endRecord();
  return records;
}

/**
 * One CSV cell: quoted when it holds a quote, comma or line break; a cell a spreadsheet would take
 * for a formula (starting with = + - @, but not a phone number like +14155550100) gets a leading '.
 */
export function csvCell(text: string): string {
  const safe = /^[=+\-@]/.test(text) && !/^\+\d+$/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
