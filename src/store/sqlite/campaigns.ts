/**
 * Campaigns and the do-not-call list in the call database, over their own SQLite connection. A claim
 * is one `BEGIN IMMEDIATE` transaction (SQLite's write lock), so two processes on one `DATA_DIR`
 * never claim one lead, and the campaign's cap counts every instance's `dialing` leads.
 *
 * The connection is synchronous and on the server's event loop, like the call store's: a write that
 * meets another process's lock waits at most the call store's `BUSY_TIMEOUT_MS` (20 ms), then
 * rejects (`database is locked`); the dialer's next pass tries again.
 *
 * @module
 */

import { asPromise, openSqliteConnection, type SqliteConnection } from "./connection.ts";
import { nextDialSlot } from "../campaign_pace.ts";
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
import { insertCampaign, toCampaign, toLead } from "./campaign_rows.ts";
import type { Campaigns, DoNotCallList } from "../ports.ts";
import { sqliteDoNotCall } from "./do_not_call.ts";

/** Both tables' ports, over one connection. */
export interface SqliteCampaigns extends Campaigns {
  readonly doNotCall: DoNotCallList;
}

/**
 * Opens the campaign tables of the call database at `path` (creating and migrating it if needed).
 *
 * @example
 * ```ts
 * const campaigns = openCampaignStore(callDatabasePath(config.dataDir), { now: Date.now });
 * const claimed = await campaigns.claim(id, Date.now(), 5, "host-a");
 * ```
 */
export function openCampaignStore(path: string, options: { now?: () => number } = {}): SqliteCampaigns {
  return new SqliteCampaignStore(
    openSqliteConnection(path),
    options.now ?? Date.now,
  );
}

/** The campaign tables and the do-not-call list over one SQLite connection. */
class SqliteCampaignStore implements SqliteCampaigns {
  readonly doNotCall: DoNotCallList;
  readonly #db: SqliteConnection["db"];
  readonly #sql: SqliteConnection["sql"];
  readonly #transaction: SqliteConnection["transaction"];
  readonly #now: () => number;

  constructor(connection: SqliteConnection, now: () => number) {
    this.#db = connection.db;
    this.#sql = connection.sql;
    this.#transaction = connection.transaction;
    this.#now = now;
    this.doNotCall = sqliteDoNotCall(connection);
  }

  create(input: CampaignInput, leads: readonly CampaignLeadInput[], state: CampaignState): Promise<Campaign> {
    return asPromise(() =>
      this.#transaction(() =>
        this.#getCampaign(insertCampaign(this.#sql, { input, leads, state, at: this.#now() }))!
      )
    );
  }

  get(id: number): Promise<Campaign | undefined> {
    return asPromise(() => this.#getCampaign(id));
  }

  list(): Promise<Campaign[]> {
    return asPromise(() => this.#sql("SELECT * FROM campaigns ORDER BY id DESC").all().map(toCampaign));
  }

  setState(id: number, state: CampaignState, from?: readonly CampaignState[]): Promise<Campaign | undefined> {
    return asPromise(() =>
      this.#transaction(() => {
        const campaign = this.#getCampaign(id);
        if (campaign === undefined) return undefined;
        if (from !== undefined && !from.includes(campaign.state)) return campaign;
        this.#sql("UPDATE campaigns SET state = ?, updated_at = ? WHERE id = ?").run(state, this.#now(), id);
        return this.#getCampaign(id);
      })
    );
  }

  leads(id: number): Promise<CampaignLead[]> {
    return asPromise(() =>
      this.#sql("SELECT * FROM campaign_leads WHERE campaign_id = ? ORDER BY id").all(id).map(toLead)
    );
  }

  attempts(id: number): Promise<CampaignAttempt[]> {
    return asPromise(() =>
      this.#sql("SELECT * FROM campaign_attempts WHERE campaign_id = ? ORDER BY id").all(id).map(
        campaignAttemptFromRow,
      )
    );
  }

  claim(campaignId: number, at: number, limit: number, instance: string): Promise<CampaignLead[]> {
    return asPromise(() =>
      this.#transaction(() => {
        const campaign = this.#getCampaign(campaignId);
        if (campaign === undefined) return [];
        const dialing = Number(
          this.#sql("SELECT COUNT(*) AS n FROM campaign_leads WHERE campaign_id = ? AND state = 'dialing'")
            .get(campaignId)!.n,
        );
        const room = Math.min(limit, campaign.maxConcurrent - dialing);
        if (room <= 0) return [];
        const rows = this.#sql(
          `SELECT id FROM campaign_leads WHERE campaign_id = ? AND state = 'pending' AND next_try_at <= ?
         ORDER BY next_try_at, id LIMIT ?`,
        ).all(campaignId, at, room);
        const claimed: CampaignLead[] = [];
        for (const row of rows) {
          this.#sql("UPDATE campaign_leads SET state = 'dialing', claimed_by = ? WHERE id = ?").run(
            instance,
            row.id as number,
          );
          claimed.push(toLead(this.#sql("SELECT * FROM campaign_leads WHERE id = ?").get(row.id as number)!));
        }
        return claimed;
      })
    );
  }

  beginDial(campaignLeadId: number, at: number): Promise<boolean> {
    return asPromise(() =>
      this.#transaction(() => {
        const row = this.#sql(
          `SELECT c.id, c.calls_per_second, c.next_dial_at FROM campaigns c
         JOIN campaign_leads l ON l.campaign_id = c.id WHERE l.id = ?`,
        ).get(campaignLeadId);
        if (row === undefined) return false;
        const next = nextDialSlot(Number(row.calls_per_second), Number(row.next_dial_at), at);
        if (next === undefined) return false;
        this.#sql("UPDATE campaigns SET next_dial_at = ? WHERE id = ?").run(next, Number(row.id));
        this.#sql("UPDATE campaign_leads SET requested_at = ? WHERE id = ?").run(at, campaignLeadId);
        return true;
      })
    );
  }

  startAttempt(campaignLeadId: number, at: number, callSid?: string): Promise<CampaignAttempt> {
    return asPromise(() =>
      this.#transaction(() => {
        const lead = this.#sql("SELECT * FROM campaign_leads WHERE id = ?").get(campaignLeadId);
        if (lead === undefined) throw new Error(`No campaign lead ${campaignLeadId}`);
        const attempt = Number(lead.attempts) + 1;
        this.#sql("UPDATE campaign_leads SET attempts = ?, requested_at = NULL WHERE id = ?").run(
          attempt,
          campaignLeadId,
        );
        const id = Number(
          this.#sql(
            `INSERT INTO campaign_attempts (campaign_id, campaign_lead_id, attempt, started_at, call_sid)
           VALUES (?, ?, ?, ?, ?)`,
          ).run(Number(lead.campaign_id), campaignLeadId, attempt, at, callSid ?? null).lastInsertRowid,
        );
        return campaignAttemptFromRow(this.#sql("SELECT * FROM campaign_attempts WHERE id = ?").get(id)!);
      })
    );
  }

  setAttemptCall(attemptId: number, callSid: string): Promise<void> {
    return asPromise(() => {
      this.#sql("UPDATE campaign_attempts SET call_sid = ? WHERE id = ?").run(callSid, attemptId);
    });
  }

  attemptByCallSid(callSid: string): Promise<CampaignAttempt | undefined> {
    return asPromise(() => {
      const row = this.#sql("SELECT * FROM campaign_attempts WHERE call_sid = ?").get(callSid);
      return row === undefined ? undefined : campaignAttemptFromRow(row);
    });
  }

  openAttempts(instance: string): Promise<CampaignAttempt[]> {
    return asPromise(() =>
      this.#sql(
        `SELECT a.* FROM campaign_attempts a JOIN campaign_leads l ON l.id = a.campaign_lead_id
         WHERE a.ended_at IS NULL AND l.state = 'dialing' AND l.claimed_by = ? ORDER BY a.id`,
      ).all(instance).map(campaignAttemptFromRow)
    );
  }

  releaseClaims(instance: string, heir?: string): Promise<number> {
    return asPromise(() =>
      this.#transaction(() => {
        const released = Number(
          this.#sql(
            `UPDATE campaign_leads SET state = 'pending', claimed_by = NULL
           WHERE state = 'dialing' AND claimed_by = ? AND NOT EXISTS (
             SELECT 1 FROM campaign_attempts a WHERE a.campaign_lead_id = campaign_leads.id
               AND a.ended_at IS NULL)`,
          ).run(instance).changes,
        );
        if (heir !== undefined) {
          this.#sql("UPDATE campaign_leads SET claimed_by = ? WHERE state = 'dialing' AND claimed_by = ?")
            .run(
              heir,
              instance,
            );
        }
        return released;
      })
    );
  }

  finishAttempt(
    attemptId: number,
    end: { at: number; disposition: Disposition; detail: string },
    settlement: LeadSettlement,
  ): Promise<boolean> {
    return asPromise(() =>
      this.#transaction(() => {
        const row = this.#sql("SELECT * FROM campaign_attempts WHERE id = ? AND ended_at IS NULL").get(
          attemptId,
        );
        if (row === undefined) return false;
        this.#sql("UPDATE campaign_attempts SET ended_at = ?, disposition = ?, detail = ? WHERE id = ?")
          .run(end.at, end.disposition, end.detail, attemptId);
        this.#settle(Number(row.campaign_lead_id), settlement);
        return true;
      })
    );
  }

  settle(campaignLeadId: number, settlement: LeadSettlement): Promise<void> {
    return asPromise(() => this.#settle(campaignLeadId, settlement));
  }

  nextTryAt(campaignId: number): Promise<number | undefined> {
    return asPromise(() => {
      const row = this.#sql(
        "SELECT MIN(next_try_at) AS at FROM campaign_leads WHERE campaign_id = ? AND state = 'pending'",
      ).get(campaignId);
      return row?.at === null || row?.at === undefined ? undefined : Number(row.at);
    });
  }

  close(): void {
    this.#db.close();
  }

  #getCampaign(id: number): Campaign | undefined {
    const row = this.#sql("SELECT * FROM campaigns WHERE id = ?").get(id);
    return row === undefined ? undefined : toCampaign(row);
  }

  /** Settles the lead `id` (in the caller's transaction, if any). */
  #settle(id: number, settlement: LeadSettlement): void {
    if (settlement.state === "pending") {
      this.#sql(
        `UPDATE campaign_leads SET state = 'pending', next_try_at = ?, claimed_by = NULL,
           disposition = COALESCE(?, disposition),
           requested_at = CASE WHEN ? THEN NULL ELSE requested_at END WHERE id = ?`,
      ).run(settlement.nextTryAt, settlement.disposition, settlement.requestedAt === null ? 1 : 0, id);
    } else if (settlement.state === "done") {
      this.#sql("UPDATE campaign_leads SET state = 'done', disposition = ?, claimed_by = NULL WHERE id = ?")
        .run(settlement.disposition, id);
    } else {
      this.#sql(
        "UPDATE campaign_leads SET state = 'skipped', skip_reason = ?, claimed_by = NULL WHERE id = ?",
      ).run(settlement.skipReason, id);
    }
  }
}
