/**
 * `POST /api/leads/import?onDuplicate=skip|update`: leads from a CSV body with a header row (`name`,
 * `phone`, `company`, `notes`; any other column is a free field).
 *
 * - Bad rows are reported by line and field; the good rows are kept.
 * - Leads are de-duplicated by phone number (E.164 once normalised): a row whose number appears on
 *   an earlier line of the file is skipped, and one whose number is already a lead is skipped
 *   (`onDuplicate=skip`, the default) or updates that lead (`update`: the name, the columns the file
 *   has, and its free fields, an empty cell removing one). Each duplicate is reported by line.
 * - At most {@linkcode MAX_IMPORT_ROWS} rows per import; at most {@linkcode MAX_REPORTED_PROBLEMS}
 *   errors and as many duplicates are listed (`counts` has the totals), so the answer stays small.
 *
 * Answer: 201, or 207 when some rows had errors, with
 * `{ imported, updated, duplicates, errors, counts, limits, onDuplicate }`.
 *
 * @module
 */

import { readBodyText } from "../http/body.ts";
import { jsonError, jsonResponse } from "../http/responses.ts";
import type { Lead, LeadInput, LeadUpdate } from "../store/lead.ts";
import type { Leads as LeadStore } from "../store/ports.ts";
import { type CsvRecord, parseCsv } from "./csv.ts";
import type { LeadImport } from "./types.ts";
import { checkLead, type LeadProblem, MAX_LEAD_FIELDS, TEXT_FIELDS } from "./lead_checks.ts";

/** Largest CSV import, bytes. */
export const MAX_LEAD_IMPORT_BYTES = 1024 * 1024;
/** Most data rows (after the header) one import may have. */
export const MAX_IMPORT_ROWS = 5000;
/** Most errors, and most duplicates, listed in one answer; `counts` has the totals. */
export const MAX_REPORTED_PROBLEMS = 100;

/** What to do with a row whose phone number is already a lead. */
export type OnDuplicate = "skip" | "update";

/** One duplicate row: the line, its number, and the earlier line or existing lead it repeats. */
export interface LeadDuplicate {
  line: number;
  phone: string;
  action: "skipped" | "updated";
  /** The file's earlier line with this number. */
  sameAsLine?: number;
  /** The existing lead with this number. */
  existingLead?: number;
}

/**
 * Imports the CSV body of `request` into `store`.
 *
 * @example
 * ```ts
 * if (pathname === "/api/leads/import") return await importLeads(request, store);
 * ```
 */
export async function importLeads(
  request: Request,
  store: LeadStore,
): Promise<Response> {
  const onDuplicate = new URL(request.url).searchParams.get("onDuplicate") ?? "skip";
  if (onDuplicate !== "skip" && onDuplicate !== "update") {
    await request.body?.cancel().catch(() => {});
    return jsonError(400, `Query "onDuplicate": "${onDuplicate.slice(0, 40)}" is not "skip" or "update"`);
  }
  const body = await readBodyText(request, MAX_LEAD_IMPORT_BYTES);
  if (!body.ok) return jsonError(body.status, body.error);
  const records = parseCsv(body.text);
  const header = readHeader(records);
  if (header instanceof Response) return header;

  const plan = await planImport(records, header, { store, onDuplicate });
  const { errors, duplicates, creates, updates } = plan;
  const { created, updated } = creates.length + updates.length === 0
    ? { created: [], updated: [] }
    : await store.importBatch(creates, updates);
  return jsonResponse(
    errors.length === 0 ? 201 : 207,
    {
      imported: created,
      updated,
      duplicates: duplicates.slice(0, MAX_REPORTED_PROBLEMS),
      errors: errors.slice(0, MAX_REPORTED_PROBLEMS),
      counts: {
        rows: records.length,
        imported: created.length,
        updated: updated.length,
        skipped: duplicates.filter((d) => d.action === "skipped").length,
        duplicates: duplicates.length,
        errors: errors.length,
      },
      limits: {
        maxRows: MAX_IMPORT_ROWS,
        maxReported: MAX_REPORTED_PROBLEMS,
        maxBytes: MAX_LEAD_IMPORT_BYTES,
      },
      onDuplicate,
    } satisfies LeadImport,
  );
}

/** The header's columns as written and lower-cased. */
interface ImportHeader {
  columns: string[];
  known: string[];
}

/**
 * Takes the header row off `records` and checks the file: not empty, not too long, with `name` and
 * `phone` columns; or the 400 (413) that says what is wrong.
 */
function readHeader(records: CsvRecord[]): ImportHeader | Response {
  const header = records.shift();
  if (header === undefined) {
    return jsonError(
      400,
      "CSV is empty: send a header row (name,phone,company,notes,…) and one row per lead",
    );
  }
  if (records.length > MAX_IMPORT_ROWS) {
    return jsonError(
      413,
      `CSV has ${records.length} rows: at most ${MAX_IMPORT_ROWS} rows per import; split the file`,
    );
  }
  const columns = header.cells.map((cell) => cell.trim());
  const known = columns.map((c) => c.toLowerCase());
  for (const required of ["name", "phone"]) {
    if (!known.includes(required)) {
      return jsonError(
        400,
        `CSV header (line ${header.line}) has no "${required}" column: found ${
          columns.join(", ").slice(0, 200)
        }`,
      );
    }
  }
  return { columns, known };
}

/** What an import will do: the leads to create and update, and each duplicate and error by line. */
interface ImportPlan {
  errors: LeadProblem[];
  duplicates: LeadDuplicate[];
  creates: LeadInput[];
  updates: LeadUpdate[];
}

/** Checks every row and sorts it into the plan (nothing is written yet). */
async function planImport(
  records: CsvRecord[],
  header: ImportHeader,
  options: { store: LeadStore; onDuplicate: OnDuplicate },
): Promise<ImportPlan> {
  const { columns, known } = header;
  const { store, onDuplicate } = options;
  const plan: ImportPlan = { errors: [], duplicates: [], creates: [], updates: [] };
  const { errors, duplicates, creates, updates } = plan;
  const lineOfPhone = new Map<string, number>();
  for (const record of records) {
    if (record.cells.length !== columns.length) {
      errors.push({
        line: record.line,
        field: "row",
        message: `${record.cells.length} cells where the header has ${columns.length}`,
      });
      continue;
    }
    const { row, cellsOfFields } = rowOf(record, header);
    const checked = checkLead(row, false, "");
    if ("problem" in checked) {
      errors.push({ line: record.line, ...checked.problem });
      continue;
    }
    const lead = checked.lead as LeadInput;
    const earlier = lineOfPhone.get(lead.phone);
    if (earlier !== undefined) {
      duplicates.push({ line: record.line, phone: lead.phone, action: "skipped", sameAsLine: earlier });
      continue;
    }
    lineOfPhone.set(lead.phone, record.line);
    const existing = await store.findByPhone(lead.phone);
    if (existing === undefined) {
      creates.push(lead);
      continue;
    }
    if (onDuplicate === "skip") {
      duplicates.push({ line: record.line, phone: lead.phone, action: "skipped", existingLead: existing.id });
      continue;
    }
    const changes = updateOf(existing, lead, known, cellsOfFields);
    if (typeof changes === "string") {
      errors.push({ line: record.line, field: "fields", message: changes });
      continue;
    }
    updates.push({ id: existing.id, changes });
    duplicates.push({ line: record.line, phone: lead.phone, action: "updated", existingLead: existing.id });
  }
  return plan;
}

/** A CSV row as a lead to check, and the free fields it names (empty ones included: an update removes those). */
function rowOf(
  record: CsvRecord,
  header: ImportHeader,
): { row: Record<string, unknown>; cellsOfFields: Record<string, string> } {
  const { columns, known } = header;
  const row: Record<string, unknown> = { fields: {} };
  const cellsOfFields: Record<string, string> = {};
  record.cells.forEach((cell, i) => {
    const name = known[i]!;
    if ((TEXT_FIELDS as readonly string[]).includes(name)) row[name] = cell.trim();
    else {
      cellsOfFields[columns[i]!] = cell.trim();
      if (cell.trim() !== "") (row.fields as Record<string, string>)[columns[i]!] = cell.trim();
    }
  });
  return { row, cellsOfFields };
}

/**
 * What an `update` import changes on `existing`: the name, the text columns the file has, and the
 * free fields it names (an empty cell removes one). A string says why it cannot.
 */
function updateOf(
  existing: Lead,
  lead: LeadInput,
  known: string[],
  cellsOfFields: Record<string, string>,
): Partial<LeadInput> | string {
  const changes: Partial<LeadInput> = { name: lead.name };
  if (known.includes("company")) changes.company = lead.company;
  if (known.includes("notes")) changes.notes = lead.notes;
  const fields = { ...existing.fields };
  for (const [name, value] of Object.entries(cellsOfFields)) {
    if (value === "") delete fields[name];
    else fields[name] = value;
  }
  const count = Object.keys(fields).length;
  if (count > MAX_LEAD_FIELDS) {
    return `the lead would have ${count} fields after the update: at most ${MAX_LEAD_FIELDS} are allowed`;
  }
  changes.fields = fields;
  return changes;
}
