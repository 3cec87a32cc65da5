/**
 * Campaigns on Postgres (the {@linkcode Campaigns} port), shared by every instance (the do-not-call
 * list is `do_not_call.ts`). A claim is one transaction: `SELECT …
 * FROM campaigns WHERE id = $id FOR UPDATE` serialises the claims of one campaign, its `dialing` rows
 * are counted, and one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING *` takes at
 * most the room left under `maxConcurrent`. So two instances never claim one lead, and the cap holds
 * for the campaign as a whole.
 *
 * @module
 */

import type { Sql, TransactionSql } from "postgres";
import type {
  Campaign,
  CampaignAttempt,
  CampaignInput,
  CampaignLead,
  CampaignLeadInput,
  CampaignState,
  Disposition,
  LeadSettlement,
} from "../campaign.ts";
import { campaignAttemptFromRow } from "../campaign.ts";
import type { Campaigns } from "../ports.ts";
import { nextDialSlot } from "../campaign_pace.ts";

type Row = Record<string, unknown>;
type Tx = TransactionSql;

/** The campaigns of the database `sql` is connected to. `close` does nothing: the store ends the pool. */
export function postgresCampaigns(sql: Sql, now: () => number = Date.now): Campaigns {
  return new PostgresCampaigns(sql, now);
}

/** The campaigns of one Postgres database, shared by every instance. */
class PostgresCampaigns implements Campaigns {
  readonly #sql: Sql;
  readonly #now: () => number;

  constructor(sql: Sql, now: () => number) {
    this.#sql = sql;
    this.#now = now;
  }

  async create(
    input: CampaignInput,
    leads: readonly CampaignLeadInput[],
    state: CampaignState,
  ): Promise<Campaign> {
    return await this.#sql.begin((tx) =>
      insertCampaign(tx, { input, leads, state, at: this.#now() })
    ) as Campaign;
  }

  get(id: number): Promise<Campaign | undefined> {
    return getCampaign(this.#sql, id);
  }

  async list(): Promise<Campaign[]> {
    return (await this.#sql<Row[]>`SELECT * FROM campaigns ORDER BY id DESC`).map(toCampaign);
  }

  async setState(
    id: number,
    state: CampaignState,
    from?: readonly CampaignState[],
  ): Promise<Campaign | undefined> {
    return await this.#sql.begin(async (tx) => {
      const rows = await tx<Row[]>`SELECT * FROM campaigns WHERE id = ${id} FOR UPDATE`;
      if (rows[0] === undefined) return undefined;
      const campaign = toCampaign(rows[0]);
      if (from !== undefined && !from.includes(campaign.state)) return campaign;
      const written = await tx<Row[]>`
        UPDATE campaigns SET state = ${state}, updated_at = ${this.#now()} WHERE id = ${id} RETURNING *`;
      return toCampaign(written[0]!);
    }) as Campaign | undefined;
  }

  async leads(id: number): Promise<CampaignLead[]> {
    return (await this.#sql<Row[]>`SELECT * FROM campaign_leads WHERE campaign_id = ${id} ORDER BY id`).map(
      toLead,
    );
  }

  async attempts(id: number): Promise<CampaignAttempt[]> {
    return (await this.#sql<Row[]>`SELECT * FROM campaign_attempts WHERE campaign_id = ${id} ORDER BY id`)
      .map(campaignAttemptFromRow);
  }

  async claim(campaignId: number, at: number, limit: number, instance: string): Promise<CampaignLead[]> {
    return await this.#sql.begin(async (tx) => {
      // Serialises the claims of this campaign: the count below sees every committed claim.
      const rows = await tx<{ max_concurrent: number }[]>`
        SELECT max_concurrent FROM campaigns WHERE id = ${campaignId} FOR UPDATE`;
      if (rows[0] === undefined) return [];
      const counted = await tx<{ n: string }[]>`
        SELECT COUNT(*) AS n FROM campaign_leads WHERE campaign_id = ${campaignId} AND state = 'dialing'`;
      const room = Math.min(limit, Number(rows[0].max_concurrent) - Number(counted[0]!.n));
      if (room <= 0) return [];
      const claimed = await tx<Row[]>`
        UPDATE campaign_leads SET state = 'dialing', claimed_by = ${instance}
        WHERE id IN (
          SELECT id FROM campaign_leads
          WHERE campaign_id = ${campaignId} AND state = 'pending' AND next_try_at <= ${at}
          ORDER BY next_try_at, id LIMIT ${room}
          FOR UPDATE SKIP LOCKED
        )
        RETURNING *`;
      // RETURNING keeps no order: earliest first, as they were chosen.
      return claimed.map(toLead).sort((a, b) => a.nextTryAt - b.nextTryAt || a.id - b.id);
    }) as CampaignLead[];
  }

  async beginDial(campaignLeadId: number, at: number): Promise<boolean> {
    return await this.#sql.begin(async (tx) => {
      // The campaign's row lock: instances take its slots in turn.
      const rows = await tx<{ id: string; calls_per_second: number; next_dial_at: string }[]>`
        SELECT c.id, c.calls_per_second, c.next_dial_at FROM campaigns c
        WHERE c.id = (SELECT campaign_id FROM campaign_leads WHERE id = ${campaignLeadId})
        FOR UPDATE`;
      const row = rows[0];
      if (row === undefined) return false;
      const next = nextDialSlot(Number(row.calls_per_second), Number(row.next_dial_at), at);
      if (next === undefined) return false;
      await tx`UPDATE campaigns SET next_dial_at = ${next} WHERE id = ${row.id}`;
      await tx`UPDATE campaign_leads SET requested_at = ${at} WHERE id = ${campaignLeadId}`;
      return true;
    }) as boolean;
  }

  async startAttempt(campaignLeadId: number, at: number, callSid?: string): Promise<CampaignAttempt> {
    return await this.#sql.begin(async (tx) => {
      const leads = await tx<{ campaign_id: string; attempts: number }[]>`
        UPDATE campaign_leads SET attempts = attempts + 1, requested_at = NULL WHERE id = ${campaignLeadId}
        RETURNING campaign_id, attempts`;
      const lead = leads[0];
      if (lead === undefined) throw new Error(`No campaign lead ${campaignLeadId}`);
      const rows = await tx<Row[]>`
        INSERT INTO campaign_attempts (campaign_id, campaign_lead_id, attempt, started_at, call_sid)
        VALUES (${lead.campaign_id}, ${campaignLeadId}, ${lead.attempts}, ${at}, ${callSid ?? null})
        RETURNING *`;
      return campaignAttemptFromRow(rows[0]!);
    }) as CampaignAttempt;
  }

  async setAttemptCall(attemptId: number, callSid: string): Promise<void> {
    await this.#sql`UPDATE campaign_attempts SET call_sid = ${callSid} WHERE id = ${attemptId}`;
  }

  async attemptByCallSid(callSid: string): Promise<CampaignAttempt | undefined> {
    const rows = await this.#sql<Row[]>`SELECT * FROM campaign_attempts WHERE call_sid = ${callSid} LIMIT 1`;
    return rows[0] === undefined ? undefined : campaignAttemptFromRow(rows[0]);
  }

  async openAttempts(instance: string): Promise<CampaignAttempt[]> {
    const rows = await this.#sql<Row[]>`
      SELECT a.* FROM campaign_attempts a JOIN campaign_leads l ON l.id = a.campaign_lead_id
      WHERE a.ended_at IS NULL AND l.state = 'dialing' AND l.claimed_by = ${instance} ORDER BY a.id`;
    return rows.map(campaignAttemptFromRow);
  }

  async releaseClaims(instance: string, heir?: string): Promise<number> {
    return await this.#sql.begin((tx) => releaseClaimsIn(tx, instance, heir)) as number;
  }

  async finishAttempt(
    attemptId: number,
    end: { at: number; disposition: Disposition; detail: string },
    settlement: LeadSettlement,
  ): Promise<boolean> {
    return await this.#sql.begin(async (tx) => {
      // A second end waits on the row lock, then finds it ended: exactly one wins.
      const rows = await tx<{ campaign_lead_id: string }[]>`
        UPDATE campaign_attempts SET ended_at = ${end.at}, disposition = ${end.disposition},
          detail = ${end.detail}
        WHERE id = ${attemptId} AND ended_at IS NULL
        RETURNING campaign_lead_id`;
      if (rows[0] === undefined) return false;
      await settleIn(tx, Number(rows[0].campaign_lead_id), settlement);
      return true;
    }) as boolean;
  }

  async settle(campaignLeadId: number, settlement: LeadSettlement): Promise<void> {
    await settleIn(this.#sql, campaignLeadId, settlement);
  }

  async nextTryAt(campaignId: number): Promise<number | undefined> {
    const rows = await this.#sql<{ at: string | null }[]>`
      SELECT MIN(next_try_at) AS at FROM campaign_leads WHERE campaign_id = ${campaignId} AND state = 'pending'`;
    const at = rows[0]?.at;
    return at === null || at === undefined ? undefined : Number(at);
  }

  /** Does nothing: the store ends the pool. */
  close(): void {}
}

/** The campaign `id` read through `q` (the pool or a transaction), or undefined for an unknown id. */
async function getCampaign(q: Sql | Tx, id: number): Promise<Campaign | undefined> {
  const rows = await q<Row[]>`SELECT * FROM campaigns WHERE id = ${id}`;
  return rows[0] === undefined ? undefined : toCampaign(rows[0]);
}

/** Settles the lead `id` through `q` (the pool or a transaction). */
async function settleIn(q: Sql | Tx, id: number, settlement: LeadSettlement): Promise<void> {
  if (settlement.state === "pending") {
    await q`UPDATE campaign_leads SET state = 'pending', next_try_at = ${settlement.nextTryAt},
        claimed_by = NULL, disposition = COALESCE(${settlement.disposition}::text, disposition),
        requested_at = CASE WHEN ${settlement.requestedAt === null}::boolean THEN NULL ELSE requested_at END
      WHERE id = ${id}`;
  } else if (settlement.state === "done") {
    await q`UPDATE campaign_leads SET state = 'done', disposition = ${settlement.disposition},
        claimed_by = NULL WHERE id = ${id}`;
  } else {
    await q`UPDATE campaign_leads SET state = 'skipped', skip_reason = ${settlement.skipReason},
        claimed_by = NULL WHERE id = ${id}`;
  }
}

/**
 * The claims of `instance` released in the transaction `tx` (see `Campaigns.releaseClaims`): its
 * dead-peer sweep calls it in the transaction that claims the dead instance.
 */
export async function releaseClaimsIn(tx: Tx, instance: string, heir?: string): Promise<number> {
  const released = await tx`
    UPDATE campaign_leads l SET state = 'pending', claimed_by = NULL
    WHERE l.state = 'dialing' AND l.claimed_by = ${instance} AND NOT EXISTS (
      SELECT 1 FROM campaign_attempts a WHERE a.campaign_lead_id = l.id AND a.ended_at IS NULL)
    RETURNING l.id`;
  if (heir !== undefined) {
    await tx`UPDATE campaign_leads SET claimed_by = ${heir} WHERE state = 'dialing' AND claimed_by = ${instance}`;
  }
  return released.length;
}

/** Inserts a campaign and its leads, in order, in transaction `tx`; returns the campaign. */
async function insertCampaign(
  tx: Tx,
  { input, leads, state, at }: {
    input: CampaignInput;
    leads: readonly CampaignLeadInput[];
    state: CampaignState;
    at: number;
  },
): Promise<Campaign> {
  const rows = await tx<Row[]>`
    INSERT INTO campaigns (name, persona, voice, parameters, calling_window, max_concurrent,
      calls_per_second, retry, machine_detection, state, created_at, updated_at)
    VALUES (${input.name}, ${input.persona}, ${input.voice ?? null}, ${tx.json(input.parameters)},
      ${tx.json(input.window as unknown as Record<string, string>)}, ${input.maxConcurrent},
      ${input.callsPerSecond}, ${tx.json(input.retry as unknown as Record<string, string>)},
      ${input.machineDetection}, ${state}, ${at}, ${at})
    RETURNING *`;
  const campaign = toCampaign(rows[0]!);
  if (leads.length > 0) {
    // One parameter for every lead (no limit on how many a CSV brings), inserted in order.
    const batch = leads.map((lead, n) => ({
      n,
      lead_id: lead.leadId,
      name: lead.name,
      phone: lead.phone,
      timezone: lead.timezone,
      fields: lead.fields,
      state: lead.skipReason === undefined ? "pending" : "skipped",
      skip_reason: lead.skipReason ?? null,
    }));
    await tx`
      INSERT INTO campaign_leads (campaign_id, lead_id, name, phone, timezone, fields, state, skip_reason)
      SELECT ${campaign.id}, x.lead_id, x.name, x.phone, x.timezone, COALESCE(x.fields, '{}'), x.state,
        x.skip_reason
      FROM jsonb_to_recordset(${tx.json(batch)}) AS x(n integer, lead_id bigint, name text,
        phone text, timezone text, fields jsonb, state text, skip_reason text)
      ORDER BY x.n`;
  }
  return campaign;
}

function toCampaign(row: Row): Campaign {
  return {
    id: Number(row.id),
    name: String(row.name),
    persona: String(row.persona),
    voice: row.voice === null ? undefined : String(row.voice),
    parameters: (row.parameters ?? {}) as Campaign["parameters"],
    window: (row.calling_window ?? { timezone: "UTC", days: [], start: "00:00", end: "00:00" }) as Campaign[
      "window"
    ],
    maxConcurrent: Number(row.max_concurrent),
    callsPerSecond: Number(row.calls_per_second),
    retry: (row.retry ?? {}) as Campaign["retry"],
    machineDetection: row.machine_detection === true,
    state: String(row.state) as CampaignState,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

function toLead(row: Row): CampaignLead {
  return {
    id: Number(row.id),
    campaignId: Number(row.campaign_id),
    leadId: row.lead_id === null ? null : Number(row.lead_id),
    name: String(row.name),
    phone: String(row.phone),
    timezone: row.timezone === null ? null : String(row.timezone),
    fields: (row.fields ?? {}) as CampaignLead["fields"],
    state: String(row.state) as CampaignLead["state"],
    attempts: Number(row.attempts),
    nextTryAt: Number(row.next_try_at),
    disposition: row.disposition === null ? null : String(row.disposition) as CampaignLead["disposition"],
    skipReason: row.skip_reason === null ? null : String(row.skip_reason) as CampaignLead["skipReason"],
    claimedBy: row.claimed_by === null ? null : String(row.claimed_by),
    requestedAt: row.requested_at === null || row.requested_at === undefined
      ? null
      : Number(row.requested_at),
  };
}
