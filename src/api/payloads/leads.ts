/**
 * The JSON of leads: a lead, its calls, a page of leads, a CSV import's report. Part of the API's types (`../types.ts`, which the pages import); imports
 * nothing outside them.
 *
 * @module
 */

/** A lead, as stored. */
export interface Lead {
  id: number;
  name: string;
  /** E.164. */
  phone: string;
  company: string;
  notes: string;
  /** Free fields; they become call parameters. */
  fields: Record<string, string>;
  createdAt: number;
  updatedAt: number;
}

/** `GET /api/leads`. */
export interface LeadList {
  leads: Lead[];
  /** The `after` cursor of the next page; null on the last page. */
  next: string | null;
  /** Leads in all pages. */
  total: number;
}

/** One call of a lead. */
export interface LeadCall {
  callSid: string;
  createdAt: number;
  persona: string | null;
  direction: string | null;
  status: string | null;
  endReason: string | null;
}

/** `GET /api/leads/:id`. */
export interface LeadWithCalls extends Lead {
  calls: LeadCall[];
}

/** One problem with one field of one lead. */
export interface LeadProblem {
  /** The CSV line (imports only). */
  line?: number;
  field: string;
  message: string;
}

/** `POST /api/leads/import` → 201, or 207 when some rows were refused. */
export interface LeadImport {
  imported: Lead[];
  updated: Lead[];
  /** Rows whose phone number repeats an earlier line or an existing lead (at most `limits.maxReported`). */
  duplicates: LeadDuplicate[];
  /** At most `limits.maxReported`. */
  errors: LeadProblem[];
  counts: {
    rows: number;
    imported: number;
    updated: number;
    skipped: number;
    duplicates: number;
    errors: number;
  };
  limits: { maxRows: number; maxReported: number; maxBytes: number };
  onDuplicate: "skip" | "update";
}

/** One duplicate row of an import: its line, its number, and the earlier line or existing lead it repeats. */
export interface LeadDuplicate {
  line: number;
  phone: string;
  action: "skipped" | "updated";
  /** The file's earlier line with this number. */
  sameAsLine?: number;
  /** The existing lead with this number. */
  existingLead?: number;
}
