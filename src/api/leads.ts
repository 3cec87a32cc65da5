/**
 * The leads API, with the same auth and error style as `/api/calls`:
 *
 * - `GET /api/leads`: `{ leads }`.
 * - `GET /api/leads/:id`: the lead and its `calls`.
 * - `POST /api/leads`: JSON `{ name, phone, company?, notes?, fields? }` → 201 with the lead.
 * - `POST /api/leads/import`: a CSV body with a header row (`name`, `phone`, `company`, `notes`; any
 *   other column is a free field) → `{ imported, errors }`; bad rows are reported by line and field
 *   and the good rows are kept.
 * - `PATCH /api/leads/:id`: any of the fields above.
 * - `DELETE /api/leads/:id`: 204.
 *
 * @module
 */

import { isE164 } from "../config.ts";
import { readBodyJson, readBodyText } from "../http/body.ts";
import { jsonError, jsonResponse } from "../http/responses.ts";
import type { LeadInput, LeadStore } from "../store/leads.ts";
import { MAX_PARAMETER_CHARS } from "../twilio/twiml.ts";
import { parseCsv } from "./csv.ts";
import type { Lead, LeadImport, LeadList, LeadWithCalls } from "./types.ts";
import { MAX_CALL_PARAMETERS } from "./place_call.ts";

/** Largest JSON body, bytes. */
export const MAX_LEAD_BODY_BYTES = 16 * 1024;
/** Largest CSV import, bytes. */
export const MAX_LEAD_IMPORT_BYTES = 1024 * 1024;

const TEXT_FIELDS = ["name", "phone", "company", "notes"] as const;
const ALL_FIELDS = [...TEXT_FIELDS, "fields"] as const;
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const RESERVED_FIELDS = new Set(["persona", "voice"]);
const MAX_TEXT_CHARS = 2000;

/** One problem with one field of one lead. */
export interface LeadProblem {
  /** The CSV line (imports only). */
  line?: number;
  field: string;
  message: string;
}

/**
 * Builds the handler for every path under `/api/leads`. Authorization is checked by the caller.
 *
 * @example
 * ```ts
 * const leads = createLeadsHandler(openLeadStore(path));
 * if (pathname.startsWith("/api/leads")) return leads(request);
 * ```
 */
export function createLeadsHandler(store: LeadStore): (request: Request) => Promise<Response> {
  return async (request) => {
    const { pathname } = new URL(request.url);
    const method = request.method;
    if (pathname === "/api/leads") {
      if (method === "GET") return jsonResponse(200, { leads: store.list() } satisfies LeadList);
      if (method === "POST") return await createLead(request, store);
      return notAllowed(method, "GET, POST");
    }
    if (pathname === "/api/leads/import") {
      return method === "POST" ? await importLeads(request, store) : notAllowed(method, "POST");
    }
    const match = /^\/api\/leads\/(\d{1,15})$/.exec(pathname);
    if (match === null) return jsonError(404, `Not found: "${pathname}": leads are /api/leads/<number>`);
    const id = Number(match[1]);
    if (method === "GET") {
      const lead = store.get(id);
      return lead === undefined
        ? unknownLead(id)
        : jsonResponse(200, { ...lead, calls: store.callsOf(lead.phone) } satisfies LeadWithCalls);
    }
    if (method === "PATCH") return await updateLead(request, store, id);
    if (method === "DELETE") return store.delete(id) ? new Response(null, { status: 204 }) : unknownLead(id);
    return notAllowed(method, "GET, PATCH, DELETE");
  };
}

async function createLead(request: Request, store: LeadStore): Promise<Response> {
  const body = await readBodyJson(request, MAX_LEAD_BODY_BYTES, '{"name": "Ada", "phone": "+14155550100"}');
  if (!body.ok) return jsonError(body.status, body.error);
  const checked = checkLead(body.value, false);
  if ("problem" in checked) return problemResponse(checked.problem);
  return jsonResponse(201, store.create([checked.lead as LeadInput])[0]! satisfies Lead);
}

async function updateLead(request: Request, store: LeadStore, id: number): Promise<Response> {
  const body = await readBodyJson(request, MAX_LEAD_BODY_BYTES, '{"notes": "Call after 3pm"}');
  if (!body.ok) return jsonError(body.status, body.error);
  const checked = checkLead(body.value, true);
  if ("problem" in checked) return problemResponse(checked.problem);
  const lead = store.update(id, checked.lead);
  return lead === undefined ? unknownLead(id) : jsonResponse(200, lead satisfies Lead);
}

async function importLeads(request: Request, store: LeadStore): Promise<Response> {
  const body = await readBodyText(request, MAX_LEAD_IMPORT_BYTES);
  if (!body.ok) return jsonError(body.status, body.error);
  const records = parseCsv(body.text);
  const header = records.shift();
  if (header === undefined) {
    return jsonError(
      400,
      "CSV is empty: send a header row (name,phone,company,notes,…) and one row per lead",
    );
  }
  const columns = header.cells.map((cell) => cell.trim());
  const known = columns.map((c) => c.toLowerCase());
  for (const required of ["name", "phone"]) {
    if (!known.includes(required)) {
      return jsonError(
        400,
        `CSV header (line ${header.line}) has no "${required}" column: found ${columns.join(", ")}`,
      );
    }
  }
  const errors: LeadProblem[] = [];
  const good: LeadInput[] = [];
  for (const record of records) {
    if (record.cells.length !== columns.length) {
      errors.push({
        line: record.line,
        field: "row",
        message: `${record.cells.length} cells where the header has ${columns.length}`,
      });
      continue;
    }
    const lead: Record<string, unknown> = { fields: {} };
    record.cells.forEach((cell, i) => {
      const name = known[i]!;
      if ((TEXT_FIELDS as readonly string[]).includes(name)) lead[name] = cell.trim();
      else if (cell.trim() !== "") (lead.fields as Record<string, string>)[columns[i]!] = cell.trim();
    });
    const checked = checkLead(lead, false);
    if ("problem" in checked) errors.push({ line: record.line, ...checked.problem });
    else good.push(checked.lead as LeadInput);
  }
  const imported = good.length === 0 ? [] : store.create(good);
  return jsonResponse(errors.length === 0 ? 201 : 207, { imported, errors } satisfies LeadImport);
}

type Checked = { lead: Partial<LeadInput> } | { problem: LeadProblem };

/** Validates a lead (all of it, or only the fields present when `partial`). */
function checkLead(value: unknown, partial: boolean): Checked {
  const problem = (field: string, message: string): Checked => ({ problem: { field, message } });
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return problem("body", 'must be a JSON object like {"name": "Ada", "phone": "+14155550100"}');
  }
  const body = value as Record<string, unknown>;
  for (const key of Object.keys(body)) {
    if (!(ALL_FIELDS as readonly string[]).includes(key)) {
      return problem(key, `unknown field: allowed fields are ${ALL_FIELDS.join(", ")}`);
    }
  }
  const lead: Partial<LeadInput> = {};
  for (const field of TEXT_FIELDS) {
    const item = body[field];
    if (item === undefined) {
      if (!partial && (field === "name" || field === "phone")) return problem(field, "is required");
      if (!partial) lead[field] = "";
      continue;
    }
    if (typeof item !== "string") return problem(field, "must be a string");
    if (item.length > MAX_TEXT_CHARS) return problem(field, `is longer than ${MAX_TEXT_CHARS} characters`);
    // deno-lint-ignore no-control-regex
    if (field !== "notes" && /[\u0000-\u001f\u007f]/.test(item)) {
      return problem(field, "contains control characters");
    }
    lead[field] = item.trim();
  }
  if (lead.name === "") return problem("name", "is empty");
  if (lead.phone !== undefined && !isE164(lead.phone)) {
    return problem("phone", `"${clip(lead.phone)}" is not an E.164 number like +14155550100`);
  }
  if (body.fields !== undefined) {
    const fields = body.fields;
    if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
      return problem("fields", 'must be an object of strings like {"plan": "pro"}');
    }
    const entries = Object.entries(fields as Record<string, unknown>);
    if (entries.length > MAX_CALL_PARAMETERS - 3) {
      return problem(
        "fields",
        `has ${entries.length} fields: at most ${MAX_CALL_PARAMETERS - 3} are allowed`,
      );
    }
    for (const [name, item] of entries) {
      if (!FIELD_NAME.test(name)) {
        return problem(
          name,
          "is not a usable field name: use letters, digits, _ and -, starting with a letter",
        );
      }
      if (RESERVED_FIELDS.has(name.toLowerCase())) {
        return problem(name, "is reserved: pick it on the calling page");
      }
      if (typeof item !== "string") return problem(name, "must be a string");
      if (item.length >= MAX_PARAMETER_CHARS) {
        return problem(name, `must be under ${MAX_PARAMETER_CHARS} characters`);
      }
    }
    lead.fields = fields as Record<string, string>;
  } else if (!partial) lead.fields = {};
  return { lead };
}

function problemResponse(problem: LeadProblem): Response {
  return jsonResponse(400, { error: `Field "${problem.field}": ${problem.message}`, field: problem.field });
}

function unknownLead(id: number): Response {
  return jsonError(404, `Lead ${id} not found`);
}

function notAllowed(method: string, allowed: string): Response {
  return jsonError(405, `Method ${method} is not allowed here: use ${allowed}`, {
    headers: { allow: allowed },
  });
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
