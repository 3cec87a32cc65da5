/**
 * The leads API, behind the route table's `bearerOrSession` guard, in the error style of `/api/calls`:
 *
 * - `GET /api/leads?limit=&after=`: a page of leads by name, `{ leads, next, total }`; `next` is the
 *   `after` of the next page (null on the last). `limit` defaults to {@linkcode DEFAULT_LEADS_PAGE},
 *   at most {@linkcode MAX_LEADS_PAGE}.
 * - `GET /api/leads/:id`: the lead and its `calls`.
 * - `POST /api/leads`: JSON `{ name, phone, company?, notes?, fields? }` → 201 with the lead.
 * - `POST /api/leads/import?onDuplicate=skip|update`: a CSV body with a header row (`name`, `phone`,
 *   `company`, `notes`; any other column is a free field); see `lead_import.ts`.
 * - `PATCH /api/leads/:id`: any of the fields above.
 * - `DELETE /api/leads/:id`: 204.
 *
 * @module
 */

import { readBodyJson } from "../http/body.ts";
import { jsonError, jsonResponse } from "../http/responses.ts";
import type { LeadCursor, LeadInput } from "../store/lead.ts";
import type { Leads as LeadStore } from "../store/ports.ts";
import { checkLead, type LeadProblem } from "./lead_checks.ts";
import { importLeads } from "./lead_import.ts";
import type { LeadList } from "./types.ts";
import { clip } from "../http/input_text.ts";

/** Largest JSON body, bytes. */
export const MAX_LEAD_BODY_BYTES = 16 * 1024;
/** Leads per page of `GET /api/leads` when `limit` is not given. */
export const DEFAULT_LEADS_PAGE = 100;
/** Most leads one page of `GET /api/leads` may ask for. */
export const MAX_LEADS_PAGE = 1000;

/** A lead route's input: `:id` from the route table's path. */
type LeadContext = { params: Record<string, string> };

/** The handlers of the leads routes, one per row of the route table. */
export interface LeadsHandlers {
  listLeads(request: Request): Promise<Response>;
  createLead(request: Request): Promise<Response>;
  importLeads(request: Request): Promise<Response>;
  getLead(request: Request, context: LeadContext): Promise<Response>;
  updateLead(request: Request, context: LeadContext): Promise<Response>;
  deleteLead(request: Request, context: LeadContext): Promise<Response>;
}

/**
 * Builds the handlers of the leads routes.
 *
 * @example
 * ```ts
 * const leads = createLeadsHandlers(openLeadStore(path));
 * // in the route table: { method: "GET", path: "/api/leads/:id", guard: "bearerOrSession", handler: "getLead" … }
 * ```
 */
export function createLeadsHandlers(store: LeadStore): LeadsHandlers {
  /** The lead id of `/api/leads/:id`, or the 404 for a path that is not one. */
  const idOf = (request: Request, raw: string): number | Response =>
    /^\d{1,15}$/.test(raw)
      ? Number(raw)
      : jsonError(404, `Not found: "${new URL(request.url).pathname}": leads are /api/leads/<number>`);
  return {
    listLeads: (request) => listLeads(request, store),
    createLead: (request) => createLead(request, store),
    importLeads: (request) => importLeads(request, store),
    async getLead(request, { params }) {
      const id = idOf(request, params.id!);
      if (id instanceof Response) return id;
      const lead = await store.get(id);
      return lead === undefined
        ? unknownLead(id)
        : jsonResponse(200, { ...lead, calls: await store.callsOf(lead.phone) });
    },
    async updateLead(request, { params }) {
      const id = idOf(request, params.id!);
      if (id instanceof Response) {
        await request.body?.cancel();
        return id;
      }
      return await updateLead(request, store, id);
    },
    async deleteLead(request, { params }) {
      await request.body?.cancel();
      const id = idOf(request, params.id!);
      if (id instanceof Response) return id;
      return (await store.delete(id)) ? new Response(null, { status: 204 }) : unknownLead(id);
    },
  };
}

async function createLead(request: Request, store: LeadStore): Promise<Response> {
  const body = await readBodyJson(request, MAX_LEAD_BODY_BYTES, '{"name": "Ada", "phone": "+14155550100"}');
  if (!body.ok) return jsonError(body.status, body.error);
  const checked = checkLead(body.value, false);
  if ("problem" in checked) return problemResponse(checked.problem);
  return jsonResponse(201, (await store.create([checked.lead as LeadInput]))[0]);
}

async function updateLead(request: Request, store: LeadStore, id: number): Promise<Response> {
  const body = await readBodyJson(request, MAX_LEAD_BODY_BYTES, '{"notes": "Call after 3pm"}');
  if (!body.ok) return jsonError(body.status, body.error);
  const checked = checkLead(body.value, true);
  if ("problem" in checked) return problemResponse(checked.problem);
  const lead = await store.update(id, checked.lead);
  return lead === undefined ? unknownLead(id) : jsonResponse(200, lead);
}

/** `GET /api/leads`: one page, by name then id; `next` is the cursor of the page after it. */
async function listLeads(request: Request, store: LeadStore): Promise<Response> {
  const query = new URL(request.url).searchParams;
  const limitText = query.get("limit");
  const limit = limitText === null ? DEFAULT_LEADS_PAGE : Number(limitText);
  if (!/^\d{1,7}$/.test(limitText ?? "1") || limit < 1 || limit > MAX_LEADS_PAGE) {
    return jsonError(
      400,
      `Query "limit": "${clip(limitText ?? "")}" is not a number from 1 to ${MAX_LEADS_PAGE}`,
    );
  }
  const afterText = query.get("after");
  const after = afterText === null || afterText === "" ? undefined : decodeCursor(afterText);
  if (after === null) {
    return jsonError(
      400,
      `Query "after": "${clip(afterText!)}" is not a cursor: use the "next" of the page before`,
    );
  }
  const leads = await store.page(limit + 1, after);
  const more = leads.length > limit;
  if (more) leads.pop();
  const last = leads[leads.length - 1];
  return jsonResponse(
    200,
    {
      leads,
      next: more && last !== undefined ? encodeCursor({ name: last.name, id: last.id }) : null,
      total: await store.count(),
    } satisfies LeadList,
  );
}

function encodeCursor(cursor: LeadCursor): string {
  const bytes = new TextEncoder().encode(JSON.stringify([cursor.name, cursor.id]));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The cursor in `text`, or null when it is not one this server wrote. */
function decodeCursor(text: string): LeadCursor | null {
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    const value: unknown = JSON.parse(
      new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))),
    );
    if (
      Array.isArray(value) && value.length === 2 && typeof value[0] === "string" &&
      Number.isSafeInteger(value[1])
    ) {
      return { name: value[0], id: value[1] };
    }
  } catch { /* not base64 or not JSON: not a cursor */ }
  return null;
}

function problemResponse(problem: LeadProblem): Response {
  return jsonResponse(400, { error: `Field "${problem.field}": ${problem.message}`, field: problem.field });
}

function unknownLead(id: number): Response {
  return jsonError(404, `Lead ${id} not found`);
}
