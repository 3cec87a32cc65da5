/**
 * What a lead must be: the checks shared by the leads API and the CSV import, and the phone number
 * normalisation that de-duplication relies on.
 *
 * @module
 */

import { isTimeZone } from "../dialer/window.ts";
import { isE164 } from "../config.ts";
import type { LeadInput } from "../store/lead.ts";
import { MAX_PARAMETER_CHARS } from "../twilio/twiml.ts";
import { MAX_CALL_PARAMETERS } from "./place_call.ts";
import { clip } from "../http/input_text.ts";
import { oneLine, reservedPrefixProblem } from "../calls/call_parameters.ts";

/** Free fields a lead may have (the rest of a call's parameters are Parley's own). */
export const MAX_LEAD_FIELDS = MAX_CALL_PARAMETERS - 3;

/** The lead fields kept as text. */
export const TEXT_FIELDS = ["name", "phone", "company", "notes"] as const;
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

/** A lead as checked: its valid fields, or its first problem. */
export type Checked = { lead: Partial<LeadInput> } | { problem: LeadProblem };

/**
 * Validates a lead (all of it, or only the fields present when `partial`); the phone number is
 * normalised to E.164 (spaces, dots, dashes and brackets dropped). A problem with a free field is named
 * `freeFieldPrefix` + its name: `fields.plan` in a JSON body, the column `plan` in a CSV file (`""`).
 */
export function checkLead(value: unknown, partial: boolean, freeFieldPrefix = "fields."): Checked {
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
    lead[field] = field === "phone" ? normalisePhone(item) : item.trim();
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
    if (entries.length > MAX_LEAD_FIELDS) {
      return problem("fields", `has ${entries.length} fields: at most ${MAX_LEAD_FIELDS} are allowed`);
    }
    for (const [name, item] of entries) {
      const where = freeFieldPrefix + name;
      if (!FIELD_NAME.test(name)) {
        return problem(
          where,
          "is not a usable field name: use letters, digits, _ and -, starting with a letter",
        );
      }
      if (RESERVED_FIELDS.has(name.toLowerCase())) {
        return problem(where, "is reserved: pick it on the calling page");
      }
      const reserved = reservedPrefixProblem(name);
      if (reserved !== undefined) return problem(where, reserved);
      if (typeof item !== "string") return problem(where, "must be a string");
      // A line break (a multi-line CSV cell, an address) is kept as a space: a field is a call parameter,
      // one line. Any other control character is refused.
      const value = oneLine(item);
      // deno-lint-ignore no-control-regex
      if (/[\u0000-\u001f\u007f]/.test(value)) return problem(where, "contains control characters");
      (fields as Record<string, string>)[name] = value;
      if (name === "timezone" && value !== "" && !isTimeZone(value)) {
        return problem(where, `"${clip(value)}" is not an IANA time zone like America/New_York`);
      }
      if (value.length >= MAX_PARAMETER_CHARS) {
        return problem(where, `must be under ${MAX_PARAMETER_CHARS} characters`);
      }
    }
    lead.fields = fields as Record<string, string>;
  } else if (!partial) lead.fields = {};
  return { lead };
}

/**
 * A phone number as stored: written-out forms such as `+1 (415) 555-0100` become `+14155550100`;
 * anything else is kept as typed, for the E.164 check to name.
 */
export function normalisePhone(text: string): string {
  const trimmed = text.trim();
  return /^\+[\d\s().-]+$/.test(trimmed) ? trimmed.replace(/[\s().-]/g, "") : trimmed;
}
