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
 *   column), `DELETE /api/dnc/:phone`: `do_not_call.ts`.
 *
 * @module
 */

import { isE164 } from "../config.ts";
import type { EngineId } from "../engines/voices.ts";
import { readBodyJson } from "../http/body.ts";
import { jsonError, jsonResponse } from "../http/responses.ts";
import { type LeadSource, parseCampaignRequest } from "../dialer/campaign_request.ts";
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
import { campaignCallRows, campaignResultsCsv } from "./campaign_results.ts";
import { fromLead, leadsFromCsv, tagsOf } from "./campaign_leads.ts";
import { createDoNotCallHandlers } from "./do_not_call.ts";

/** Largest `POST /api/campaigns` body (a CSV of leads fits), bytes. */
export const MAX_CAMPAIGN_BODY_BYTES = 1024 * 1024;
export { MAX_DNC_BODY_BYTES, MAX_DNC_IMPORT_BYTES } from "./do_not_call.ts";

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
  const { campaigns, doNotCall } = options;
  const now = options.now ?? Date.now;
  /** The campaign a route's `:id` names, or the 404 naming the id. */
  const campaignOrNotFound = async (params: Record<string, string>): Promise<Campaign | Response> => {
    const id = Number(params.id);
    const campaign = Number.isSafeInteger(id) && id > 0 ? await campaigns.get(id) : undefined;
    return campaign ?? jsonError(404, `No campaign with id "${String(params.id).slice(0, 20)}"`);
  };

  return {
    createCampaign: (request) => createCampaign(request, options),
    async listCampaigns() {
      const all = await campaigns.list();
      return jsonResponse(200, { campaigns: await Promise.all(all.map((c) => campaignView(campaigns, c))) });
    },
    async getCampaign(_request, { params }) {
      const campaign = await campaignOrNotFound(params);
      return campaign instanceof Response
        ? campaign
        : jsonResponse(200, await campaignView(campaigns, campaign));
    },
    async campaignAction(request, { params }) {
      await request.body?.cancel().catch(() => {});
      // Own keys only: `constructor`, `toString`, `__proto__` … are no actions.
      const action = Object.hasOwn(ACTIONS, params.action ?? "") ? ACTIONS[params.action!] : undefined;
      if (action === undefined) {
        return jsonError(
          404,
          `Unknown campaign action "${String(params.action).slice(0, 20)}": use start, pause, resume or stop`,
        );
      }
      const campaign = await campaignOrNotFound(params);
      if (campaign instanceof Response) return campaign;
      return await applyAction(campaign, params.action!, action, options);
    },
    async campaignCalls(_request, { params }) {
      const campaign = await campaignOrNotFound(params);
      if (campaign instanceof Response) return campaign;
      const calls = await campaignCallRows(
        await campaigns.leads(campaign.id),
        await campaigns.attempts(campaign.id),
        options.analyses,
      );
      return jsonResponse(200, { calls });
    },
    async campaignResults(_request, { params }) {
      const campaign = await campaignOrNotFound(params);
      if (campaign instanceof Response) return campaign;
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
    ...createDoNotCallHandlers({ doNotCall, now }),
  };
}

/** `POST /api/campaigns`: the request checked, its leads chosen and marked, the campaign created (201). */
async function createCampaign(request: Request, options: CampaignsApiOptions): Promise<Response> {
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
  const chosen = await chooseLeads(parsed.value.leads, options.leads);
  if (chosen instanceof Response) return chosen;
  await markSkipped(chosen, options.doNotCall);
  const campaign = await options.campaigns.create(
    parsed.value.input,
    chosen,
    parsed.value.start ? "running" : "draft",
  );
  if (parsed.value.start) options.wake();
  return jsonResponse(201, await campaignView(options.campaigns, campaign));
}

/**
 * `POST /api/campaigns/:id/:action` once the action and campaign are known: 409 when the campaign's
 * state does not allow it; a stop skips the leads still pending; a start or resume wakes the dialer.
 */
async function applyAction(
  campaign: Campaign,
  name: string,
  action: { from: readonly CampaignState[]; to: CampaignState },
  options: CampaignsApiOptions,
): Promise<Response> {
  const { campaigns } = options;
  if (!action.from.includes(campaign.state)) {
    return jsonError(
      409,
      `Campaign ${campaign.id} is ${campaign.state}: ${name} needs ${action.from.join(" or ")}`,
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
  return jsonResponse(200, await campaignView(campaigns, changed ?? campaign));
}

/** The leads a campaign request names (by ids, by tag, or as CSV), or the 400 naming what is wrong. */
async function chooseLeads(
  source: LeadSource,
  leads: Leads,
): Promise<CampaignLeadInput[] | Response> {
  if ("ids" in source) {
    const found: Lead[] = [];
    for (const id of source.ids) {
      const lead = await leads.get(id);
      if (lead === undefined) return jsonError(400, `Field "leads.ids": no lead with id ${id}`);
      found.push(lead);
    }
    return found.map(fromLead);
  }
  if ("tag" in source) {
    const chosen = (await leads.list()).filter((lead) => tagsOf(lead).includes(source.tag.toLowerCase())).map(
      fromLead,
    );
    if (chosen.length === 0) {
      return jsonError(400, `Field "leads.tag": no lead has the tag "${source.tag.slice(0, 40)}"`);
    }
    return chosen;
  }
  const rows = leadsFromCsv(source.csv);
  return typeof rows === "string" ? jsonError(400, `Field "leads.csv": ${rows}`) : rows;
}

/**
 * Marks the leads a campaign must not dial, in place: a bad number, a number already chosen, one on
 * the do-not-call list. An unknown time zone is dropped (the campaign's own applies).
 */
async function markSkipped(chosen: CampaignLeadInput[], doNotCall: DoNotCallList): Promise<void> {
  const seen = new Set<string>();
  for (const lead of chosen) {
    if (lead.skipReason !== undefined) continue;
    if (!isE164(lead.phone)) lead.skipReason = "bad_number";
    else if (seen.has(lead.phone)) lead.skipReason = "duplicate";
    else if (await doNotCall.has(lead.phone)) lead.skipReason = "do_not_call";
    seen.add(lead.phone);
    if (lead.timezone !== null && !isTimeZone(lead.timezone)) lead.timezone = null;
  }
}

/** A campaign as the API shows it: with its counts by state, disposition and skip, the next try, the calls in progress. */
async function campaignView(campaigns: Campaigns, campaign: Campaign) {
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
