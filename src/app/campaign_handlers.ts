/**
 * The campaign dialer and the handlers of campaigns and the do-not-call list, built over the store's
 * campaigns (absent only without a store: their routes then answer 503).
 *
 * @module
 */

import { createCampaignsHandlers } from "../api/campaigns.ts";
import { createCallFinder, type PlaceOutboundCall } from "../calls/place_call.ts";
import { Dialer } from "../dialer/dialer.ts";
import type { EngineId } from "../engines/voices.ts";
import type { HandlerName } from "./routes.ts";
import type { RouteHandler } from "./router.ts";
import type { HandlerParts } from "./handler_parts.ts";
import { notKept } from "./record_handlers.ts";

type CampaignHandlerName =
  | "createCampaign"
  | "listCampaigns"
  | "getCampaign"
  | "campaignCalls"
  | "campaignResults"
  | "campaignAction"
  | "listDnc"
  | "addDnc"
  | "importDnc"
  | "removeDnc";

/** The campaign dialer over the store's campaigns, placing calls with `placeOutbound`; undefined without them. */
export function createDialer(parts: HandlerParts, placeOutbound: PlaceOutboundCall): Dialer | undefined {
  const { config, hub, log, admission } = parts;
  const kept = parts.campaigns;
  return kept === undefined ? undefined : new Dialer({
    campaigns: kept.campaigns,
    doNotCall: kept.doNotCall,
    instance: kept.instance,
    placeCall: placeOutbound,
    findCalls: createCallFinder({ config, ...(parts.fetch === undefined ? {} : { fetch: parts.fetch }) }),
    ...(parts.store === undefined ? {} : { records: parts.store }),
    hub,
    log,
    ...(kept.tickMs === undefined ? {} : { tickMs: kept.tickMs }),
    ...(kept.now === undefined ? {} : { now: kept.now }),
    // The same admission as every call, less the slots kept for inbound calls.
    refuseOutbound: () => {
      const refused = admission.refusal()?.message;
      if (refused !== undefined) return refused;
      const room = config.maxConcurrentCalls - config.inboundReserve;
      return admission.inFlight() >= room
        ? `${admission.inFlight()} calls in flight: the last INBOUND_RESERVE=${config.inboundReserve} of MAX_CONCURRENT_CALLS=${config.maxConcurrentCalls} are kept for inbound calls`
        : undefined;
    },
  });
}

/** The handlers of campaigns and the do-not-call list; `dialer` is woken when a campaign changes. */
export function createCampaignHandlers(
  parts: HandlerParts,
  options: { dialer: Dialer | undefined; engineOf: (id: string) => EngineId | undefined },
): Record<CampaignHandlerName & HandlerName, RouteHandler> {
  const { personas } = parts;
  const kept = parts.campaigns;
  const { dialer, engineOf } = options;
  const campaignRoutes = kept === undefined || parts.leads === undefined
    ? undefined
    : createCampaignsHandlers({
      campaigns: kept.campaigns,
      doNotCall: kept.doNotCall,
      leads: parts.leads,
      personaIds: () => personas.ids(),
      engineOf,
      wake: () => dialer?.wake(),
      ...(parts.analyses === undefined ? {} : { analyses: parts.analyses }),
      ...(kept.now === undefined ? {} : { now: kept.now }),
    });
  const noCampaigns = notKept("Campaigns");
  return {
    createCampaign: campaignRoutes?.createCampaign ?? noCampaigns,
    listCampaigns: campaignRoutes?.listCampaigns ?? noCampaigns,
    getCampaign: campaignRoutes?.getCampaign ?? noCampaigns,
    campaignCalls: campaignRoutes?.campaignCalls ?? noCampaigns,
    campaignResults: campaignRoutes?.campaignResults ?? noCampaigns,
    campaignAction: campaignRoutes?.campaignAction ?? noCampaigns,
    listDnc: campaignRoutes?.listDnc ?? noCampaigns,
    addDnc: campaignRoutes?.addDnc ?? noCampaigns,
    importDnc: campaignRoutes?.importDnc ?? noCampaigns,
    removeDnc: campaignRoutes?.removeDnc ?? noCampaigns,
  };
}
