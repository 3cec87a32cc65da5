/**
 * The leads a campaign calls, from the leads store (by id or tag) or from the campaign's own CSV (read
 * as the leads import reads it).
 *
 * @module
 */

import type { CampaignLeadInput } from "../store/campaign.ts";
import type { Lead } from "../store/lead.ts";
import { parseCsv } from "./csv.ts";
import { checkLead, normalisePhone } from "./lead_checks.ts";

/** A stored lead as a campaign lead (its `timezone` field apart; its company among the fields). */
export function fromLead(lead: Lead): CampaignLeadInput {
  const { timezone, tags: _tags, ...fields } = lead.fields;
  return {
    leadId: lead.id,
    name: lead.name,
    phone: lead.phone,
    timezone: timezone ?? null,
    fields: lead.company === "" ? fields : { company: lead.company, ...fields },
  };
}

/** A lead's tags: its free field `tags` (or `tag`), split at commas and semicolons, lower case. */
export function tagsOf(lead: Lead): string[] {
  const text = `${lead.fields.tags ?? ""},${lead.fields.tag ?? ""}`;
  return text.split(/[,;]/).map((tag) => tag.trim().toLowerCase()).filter((tag) => tag !== "");
}

/** Leads of a campaign's CSV, as the leads import reads them; a bad row is a lead skipped as `bad_number`. */
export function leadsFromCsv(text: string): CampaignLeadInput[] | string {
  const records = parseCsv(text);
  const header = records.shift();
  if (header === undefined) return "is empty: send a header row (name,phone,…) and one row per lead";
  const columns = header.cells.map((cell) => cell.trim());
  const known = columns.map((c) => c.toLowerCase());
  if (!known.includes("name") || !known.includes("phone")) {
    return 'the header row needs "name" and "phone" columns';
  }
  if (records.length > 5000) return `${records.length} rows: at most 5000`;
  return records.map((record): CampaignLeadInput => {
    const row: Record<string, unknown> = { fields: {} };
    record.cells.forEach((cell, i) => {
      const name = known[i];
      if (name === undefined) return;
      if (["name", "phone", "company", "notes"].includes(name)) row[name] = cell.trim();
      else if (cell.trim() !== "") (row.fields as Record<string, string>)[columns[i]!] = cell.trim();
    });
    const checked = checkLead(row, false, "");
    if ("problem" in checked) {
      const phone = normalisePhone(String(row.phone ?? ""));
      return {
        leadId: null,
        name: String(row.name ?? ""),
        phone,
        timezone: null,
        fields: {},
        skipReason: "bad_number",
      };
    }
    const lead = checked.lead as Lead;
    return { ...fromLead({ ...lead, id: 0, createdAt: 0, updatedAt: 0 }), leadId: null };
  });
}
