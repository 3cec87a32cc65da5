/**
 * The campaigns API (`/api/campaigns…`) and the do-not-call list (`/api/dnc…`):
 *
 * - `POST /api/campaigns`: a campaign from JSON (see `dialer/campaign_request.ts`); 201 with it and the
 *   leads skipped by reason (a bad number, the do-not-call list, a duplicate); 400 naming the field.
 * - `POST /api/campaigns/:id/start|pause|resume|stop`; `GET /api/campaigns`, `GET /api/campaigns/:id`
 *   (state, counts by lead state and by disposition, the next try, calls in progress);
 *   `GET /api/campaigns/:id/calls` (one row per attempt, and one per skipped lead with its reason);
 *   `GET /api/campaigns/:id/results.csv` (each lead: attempts, final disposition, last CallSid and
 *   that call's outcome: `campaign_results.ts`).
 * - `GET /api/dnc`, `POST /api/dnc` (`{"phone": "+1…"}`), `POST /api/dnc/import` (CSV with a `phone`
 *   column), `DELETE /api/dnc/:phone`.
 *
 * @module
 */

import { isE164 } from "../config.ts";
import type { EngineId } from "../engines/voices.ts";
import { readBodyJson, readBodyText } from "../http/body.ts";
import { clip } from "../http/input_text.ts";
import { jsonError, jsonResponse } from "../http/responses.ts";
import { parseCampaignRequest } from "../dialer/campaign_request.ts";
import { isTimeZone } from "../dialer/window.ts";
import type {
  Campaign,
  CampaignLead,
  CampaignLeadInput,
  CampaignState,
  SkipReason,
} from "../store/campaign.ts";
import { DISPOSITIONS } from "../store/campaign.ts";
import type { Lead } from "../store/lead.ts";
import type { AnalysisJobs, Campaigns, DoNotCallList, Leads } from "../store/ports.ts";
import { parseCsv } from "./csv.ts";
import { campaignCallRows, campaignResultsCsv } from "./campaign_results.ts";
import { fromLead, leadsFromCsv, tagsOf } from "./campaign_leads.ts";
import { normalisePhone } from "./lead_checks.ts";
import type { DoNotCallImport } from "./types.ts";

/** Largest `POST /api/campaigns` body (a CSV of leads fits), bytes. */
export const MAX_CAMPAIGN_BODY_BYTES = 1024 * 1024;
/** Largest `POST /api/dnc` body, bytes. */
export const MAX_DNC_BODY_BYTES = 4 * 1024;
/** Largest `POST /api/dnc/import` body, bytes. */
export const MAX_DNC_IMPORT_BYTES = 1024 * 1024;

/** What the handlers work with. */
export interface CampaignsApiOptions {
  campaigns: Campaigns;
  doNotCall: DoNotCallList;
  leads: Leads;
  personaIds: () => string[];
  engineOf: (persona: string) => EngineId | undefined;
  /** Post-call analyses: the results (page and CSV) give each call its outcome. */
  analyses?: Pick<AnalysisJobs, "getMany">;
  /** Told when a campaign may have work (created, started, resumed). */
  wake: () => void;
  /** Epoch ms. @default Date.now */
  now?: () => number;
}

type Handler = (request: Request, context: { params: Record<string, string> }) => Promise<Response>;

/** The handlers, by route-table name. */
export interface CampaignsHandlers {
  createCampaign: Handler;
  listCampaigns: Handler;
  getCampaign: Handler;
  campaignAction: Handler;
  campaignCalls: Handler;
  campaignResults: Handler;
  listDnc: Handler;
  addDnc: Handler;
  importDnc: Handler;
  removeDnc: Handler;
}

/** Which states each action moves from, and to. */
const ACTIONS: Record<string, { from: readonly CampaignState[]; to: CampaignState }> = {
  start: { from: ["draft"], to: "running" },
  pause: { from: ["running", "waiting"], to: "paused" },
  resume: { from: ["paused"], to: "running" },
  stop: { from: ["draft", "running", "waiting", "paused"], to: "stopped" },
};

/**
 * Builds the handlers.
 *
 * @example
 * ```ts
 * const api = createCampaignsHandlers({ campaigns, doNotCall, leads, personaIds, engineOf, wake: () => dialer.wake() });
 * ```
 */
export function createCampaignsHandlers(options: CampaignsApiOptions): CampaignsHandlers {
  const { campaigns, doNotCall, leads } = options;
  const now = options.now ?? Date.now;
  const campaignOf = async (params: Record<string, string>) => {
    const id = Number(params.id);
    return Number.isSafeInteger(id) && id > 0 ? await campaigns.get(id) : undefined;
  };
  const notFound = (params: Record<string, string>) =>
    jsonError(404, `No campaign with id "${String(params.id).slice(0, 20)}"`);

  return {
    async createCampaign(request) {
      const body = await readBodyJson(
        request,
        MAX_CAMPAIGN_BODY_BYTES,
        '{"name": "December", "persona": "alex", …}',
      );
      if (!body.ok) return jsonError(body.status, body.error);
      const parsed = parseCampaignRequest(body.value, {
        personaIds: options.personaIds(),
        engineOf: options.engineOf,
      });
      if (!parsed.ok) return jsonError(400, parsed.error);
      const source = parsed.value.leads;
      let chosen: CampaignLeadInput[];
      if ("ids" in source) {
        const found: Lead[] = [];
        for (const id of source.ids) {
          const lead = await leads.get(id);
          if (lead === undefined) return jsonError(400, `Field "leads.ids": no lead with id ${id}`);
          found.push(lead);
        }
        chosen = found.map(fromLead);
      } else if ("tag" in source) {
        chosen = (await leads.list()).filter((lead) => tagsOf(lead).includes(source.tag.toLowerCase())).map(
          fromLead,
        );
        if (chosen.length === 0) {
          return jsonError(400, `Field "leads.tag": no lead has the tag "${source.tag.slice(0, 40)}"`);
        }
      } else {
        const rows = leadsFromCsv(source.csv);
        if (typeof rows === "string") return jsonError(400, `Field "leads.csv": ${rows}`);
        chosen = rows;
      }
      const seen = new Set<string>();
      for (const lead of chosen) {
        if (lead.skipReason !== undefined) continue;
        if (!isE164(lead.phone)) lead.skipReason = "bad_number";
        else if (seen.has(lead.phone)) lead.skipReason = "duplicate";
        else if (await doNotCall.has(lead.phone)) lead.skipReason = "do_not_call";
        seen.add(lead.phone);
        if (lead.timezone !== null && !isTimeZone(lead.timezone)) lead.timezone = null;
      }
      const campaign = await campaigns.create(
        parsed.value.input,
        chosen,
        parsed.value.start ? "running" : "draft",
      );
      if (parsed.value.start) options.wake();
      return jsonResponse(201, await view(campaign));
    },
    async listCampaigns() {
      const all = await campaigns.list();
      return jsonResponse(200, { campaigns: await Promise.all(all.map(view)) });
    },
    async getCampaign(_request, { params }) {
      const campaign = await campaignOf(params);
      return campaign === undefined ? notFound(params) : jsonResponse(200, await view(campaign));
    },
    async campaignAction(request, { params }) {
      await request.body?.cancel().catch(() => {});
      const action = ACTIONS[params.action ?? ""];
      if (action === undefined) {
        return jsonError(
          404,
          `Unknown campaign action "${String(params.action).slice(0, 20)}": use start, pause, resume or stop`,
        );
      }
      const campaign = await campaignOf(params);
      if (campaign === undefined) return notFound(params);
      if (!action.from.includes(campaign.state)) {
        return jsonError(
          409,
          `Campaign ${campaign.id} is ${campaign.state}: ${params.action} needs ${action.from.join(" or ")}`,
        );
      }
      const changed = await campaigns.setState(campaign.id, action.to, action.from);
      if (action.to === "stopped") {
        for (const lead of await campaigns.leads(campaign.id)) {
          if (lead.state === "pending") {
            await campaigns.settle(lead.id, { state: "skipped", skipReason: "stopped" });
          }
        }
      }
      if (action.to === "running") options.wake();
      return jsonResponse(200, await view(changed ?? campaign));
    },
    async campaignCalls(_request, { params }) {
      const campaign = await campaignOf(params);
      if (campaign === undefined) return notFound(params);
      const calls = await campaignCallRows(
        await campaigns.leads(campaign.id),
        await campaigns.attempts(campaign.id),
        options.analyses,
      );
      return jsonResponse(200, { calls });
    },
    async campaignResults(_request, { params }) {
      const campaign = await campaignOf(params);
      if (campaign === undefined) return notFound(params);
      const csv = await campaignResultsCsv(
        await campaigns.leads(campaign.id),
        await campaigns.attempts(campaign.id),
        options.analyses,
      );
      return new Response(csv, {
        headers: {
          "content-type": "text/csv; charset=utf-8",
          "content-disposition": `attachment; filename="campaign-${campaign.id}-results.csv"`,
        },
      });
    },
    async listDnc() {
      return jsonResponse(200, { numbers: await doNotCall.list() });
    },
    async addDnc(request) {
      const body = await readBodyJson(request, MAX_DNC_BODY_BYTES, '{"phone": "+14155550100"}');
      if (!body.ok) return jsonError(body.status, body.error);
      const value = body.value;
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        return jsonError(400, 'Body: send a JSON object like {"phone": "+14155550100"}');
      }
      const unknown = Object.keys(value).find((key) => key !== "phone");
      if (unknown !== undefined) {
        return jsonError(400, `Unknown field "${clip(unknown)}": the only field is phone`);
      }
      const given = (value as Record<string, unknown>).phone;
      const phone = typeof given === "string" ? normalisePhone(given) : undefined;
      if (phone === undefined || !isE164(phone)) {
        return jsonError(400, 'Field "phone": send an E.164 number like {"phone": "+14155550100"}');
      }
      const added = await doNotCall.add([phone], "api", now());
      return jsonResponse(added > 0 ? 201 : 200, { phone, added: added > 0 });
    },
    async importDnc(request) {
      const body = await readBodyText(request, MAX_DNC_IMPORT_BYTES);
      if (!body.ok) return jsonError(body.status, body.error);
      const records = parseCsv(body.text);
      const header = records.shift();
      const column = header?.cells.findIndex((cell) => cell.trim().toLowerCase() === "phone") ?? -1;
      if (header === undefined || column < 0) {
        return jsonError(400, 'CSV has no "phone" column in its header row');
      }
      const phones: string[] = [];
      const errors: { line: number; message: string }[] = [];
      let refused = 0;
      for (const record of records) {
        const phone = normalisePhone(record.cells[column] ?? "");
        if (isE164(phone)) phones.push(phone);
        else if (refused++ < 100) {
          errors.push({ line: record.line, message: `"${phone.slice(0, 40)}" is not an E.164 number` });
        }
      }
      const added = await doNotCall.add(phones, "csv", now());
      return jsonResponse(
        errors.length > 0 ? 207 : 201,
        {
          added,
          alreadyListed: phones.length - added,
          refused,
          errors,
        } satisfies DoNotCallImport,
      );
    },
    async removeDnc(request, { params }) {
      await request.body?.cancel().catch(() => {});
      let decoded: string;
      try {
        decoded = decodeURIComponent(params.phone ?? "");
      } catch {
        return jsonError(400, `Path: "${clip(params.phone ?? "")}" is not valid percent-encoding`);
      }
      const phone = normalisePhone(decoded);
      if (!isE164(phone)) return jsonError(400, `Path: "${clip(phone)}" is not an E.164 number`);
      return (await doNotCall.remove(phone))
        ? jsonResponse(200, { phone, removed: true })
        : jsonError(404, `${phone} is not on the do-not-call list`);
    },
  };

  async function view(campaign: Campaign) {
    const rows = await campaigns.leads(campaign.id);
    const attempts = await campaigns.attempts(campaign.id);
    const byState: Record<string, number> = { pending: 0, dialing: 0, done: 0, skipped: 0 };
    const byDisposition: Record<string, number> = Object.fromEntries(DISPOSITIONS.map((d) => [d, 0]));
    const skipped: Record<SkipReason, number> = { bad_number: 0, do_not_call: 0, duplicate: 0, stopped: 0 };
    for (const lead of rows) {
      byState[lead.state] = (byState[lead.state] ?? 0) + 1;
      if (lead.state === "done" && lead.disposition !== null) byDisposition[lead.disposition]!++;
      if (lead.skipReason !== null) skipped[lead.skipReason]++;
    }
    return {
      ...campaign,
      leads: rows.length,
      counts: { byState, byDisposition, skipped, attempts: attempts.length },
      nextTryAt: await campaigns.nextTryAt(campaign.id) ?? null,
      inProgress: attempts.filter((a) => a.endedAt === null).map((a) => ({
        callSid: a.callSid,
        phone: rows.find((lead: CampaignLead) => lead.id === a.campaignLeadId)?.phone ?? null,
        attempt: a.attempt,
      })),
    };
  }
}
