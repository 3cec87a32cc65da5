/**
 * The campaign tables' rows in SQLite: the rows a new campaign and its leads insert, and a `campaigns`
 * or `campaign_leads` row read back as a {@linkcode Campaign} or a {@linkcode CampaignLead} (JSON
 * columns that do not parse read as their defaults). Kept apart from `campaigns.ts`, which holds what
 * the store does with them (claims, dial slots, attempts, settling), as `call_rows.ts` is from the
 * call store.
 *
 * @module
 */

import type { SqliteConnection } from "./connection.ts";
import type { Campaign, CampaignInput, CampaignLead, CampaignLeadInput, CampaignState } from "../campaign.ts";

/** Inserts a campaign and its leads (in the caller's transaction); returns the campaign's id. */
export function insertCampaign(
  sql: SqliteConnection["sql"],
  { input, leads, state, at }: {
    input: CampaignInput;
    leads: readonly CampaignLeadInput[];
    state: CampaignState;
    at: number;
  },
): number {
  const id = Number(
    sql(
      `INSERT INTO campaigns (name, persona, voice, parameters, window, max_concurrent, calls_per_second,
         retry, machine_detection, state, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      input.name,
      input.persona,
      input.voice ?? null,
      JSON.stringify(input.parameters),
      JSON.stringify(input.window),
      input.maxConcurrent,
      input.callsPerSecond,
      JSON.stringify(input.retry),
      input.machineDetection ? 1 : 0,
      state,
      at,
      at,
    ).lastInsertRowid,
  );
  for (const lead of leads) {
    sql(
      `INSERT INTO campaign_leads (campaign_id, lead_id, name, phone, timezone, fields, state, skip_reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      id,
      lead.leadId,
      lead.name,
      lead.phone,
      lead.timezone,
      JSON.stringify(lead.fields),
      lead.skipReason === undefined ? "pending" : "skipped",
      lead.skipReason ?? null,
    );
  }
  return id;
}

/** Parses a JSON column, or `fallback` when it does not parse. */
function json<T>(text: unknown, fallback: T): T {
  try {
    return JSON.parse(String(text)) as T;
  } catch {
    return fallback;
  }
}

/** A `campaigns` row as a {@linkcode Campaign}. */
export function toCampaign(row: Record<string, unknown>): Campaign {
  return {
    id: Number(row.id),
    name: String(row.name),
    persona: String(row.persona),
    voice: row.voice === null ? undefined : String(row.voice),
    parameters: json(row.parameters, {}),
    window: json(row.window, { timezone: "UTC", days: [], start: "00:00", end: "00:00" }),
    maxConcurrent: Number(row.max_concurrent),
    callsPerSecond: Number(row.calls_per_second),
    retry: json(row.retry, {} as Campaign["retry"]),
    machineDetection: Number(row.machine_detection) === 1,
    state: String(row.state) as CampaignState,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** A `campaign_leads` row as a {@linkcode CampaignLead}. */
export function toLead(row: Record<string, unknown>): CampaignLead {
  return {
    id: Number(row.id),
    campaignId: Number(row.campaign_id),
    leadId: row.lead_id === null ? null : Number(row.lead_id),
    name: String(row.name),
    phone: String(row.phone),
    timezone: row.timezone === null ? null : String(row.timezone),
    fields: json(row.fields, {}),
    state: String(row.state) as CampaignLead["state"],
    attempts: Number(row.attempts),
    nextTryAt: Number(row.next_try_at),
    disposition: row.disposition === null ? null : String(row.disposition) as CampaignLead["disposition"],
    skipReason: row.skip_reason === null ? null : String(row.skip_reason) as CampaignLead["skipReason"],
    claimedBy: row.claimed_by === null ? null : String(row.claimed_by),
    requestedAt: row.requested_at === null ? null : Number(row.requested_at),
  };
}
