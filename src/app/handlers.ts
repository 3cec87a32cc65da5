/**
 * Every handler the route table (`routes.ts`) names, built from the server's parts: each route's logic
 * lives in its own module under `api/`; this file only connects them to the calls, the store and the
 * metrics.
 *
 * @module
 */

import type { Admission } from "../calls/admission.ts";
import type { RelayCounters } from "../calls/relay_counters.ts";
import type { CallHub } from "../calls/call_hub.ts";
import type { ParleyConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { PersonaRegistry } from "../personas/types.ts";
import type { LiveRelays } from "../relay/live_relays.ts";
import type { Prewarms } from "../relay/prewarm.ts";
import type { StreamTokens } from "../twilio/stream_token.ts";
import { createMediaUpgradeHandler } from "../api/media_upgrade.ts";
import { createVoiceWebhookHandler } from "../api/voice_webhook.ts";
import { jsonError, jsonResponse } from "../http/responses.ts";
import { createPlaceCallHandler } from "../api/place_call.ts";
import { createTwilioStatusHandler } from "../api/twilio_status.ts";
import { createCallRecordsHandlers } from "../api/call_records.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { createMetricsHandler } from "../api/metrics_route.ts";
import { createAfterStreamRoutes } from "../api/after_stream.ts";
import type { Sessions } from "../http/session.ts";
import { createSignInHandlers } from "../api/sign_in.ts";
import { createPagesHandlers } from "../api/pages.ts";
import { createLeadsHandlers } from "../api/leads.ts";
import { createPersonasHandlers } from "../api/personas_route.ts";
import { createHangUpHandler } from "../api/hang_up.ts";
import { createSoftphoneHandler } from "../api/softphone.ts";
import { createRehearseHandler } from "../api/rehearse_route.ts";
import type { PriceTable } from "../engines/prices.ts";
import type { UpstreamConnector } from "../engines/upstream_socket.ts";
import { engineForModel } from "../engines/voices.ts";
import type {
  AfterStreamDecisions,
  AnalysisJobs,
  CallRecords,
  Campaigns,
  ClusterView,
  DoNotCallList,
  EventBus,
  Leads,
} from "../store/ports.ts";
import { createCampaignsHandlers } from "../api/campaigns.ts";
import { createCallFinder, createOutboundCalls } from "../calls/place_call.ts";
import { Dialer } from "../dialer/dialer.ts";

/** What the campaign dialer runs over. */
export interface DialerParts {
  campaigns: Campaigns;
  doNotCall: DoNotCallList;
  /** INSTANCE_ID: its claims carry it. */
  instance: string;
  /** How often it looks for due leads, ms (0: only when told). @default 250 */
  tickMs?: number;
  /** Its clock, epoch ms (windows, retries, pacing). @default Date.now */
  now?: () => number;
}
import type { ListenerHealth } from "../http/listener.ts";
import type { HandlerName } from "./routes.ts";
import type { Webhooks } from "../outcomes/webhooks/webhooks.ts";
import { createWebhookDeliveriesHandlers } from "../api/webhook_deliveries.ts";
import type { CallControl } from "../calls/call_control.ts";
import { tellOtherInstances } from "./cluster_control.ts";
import type { RecordingSource } from "../recordings/serve_wav.ts";
import { createRecordingHandler, recordingSummaryOf } from "../api/recording_route.ts";
import type { RouteHandler } from "./router.ts";

/** What the handlers are built from. */
export interface HandlerParts {
  config: ParleyConfig & { publicBaseUrl: string };
  personas: PersonaRegistry;
  hub: CallHub;
  log: Logger;
  counters: RelayCounters;
  metrics: Metrics;
  admission: Admission;
  relays: LiveRelays;
  prewarms: Prewarms;
  tokens: StreamTokens;
  sessions: Sessions;
  /** Aborted on shutdown: ends the live feeds (SSE). */
  shutdownSignal: AbortSignal;
  /** The call records, if records are kept. */
  store?: CallRecords;
  /** Where the `<Connect action>` reads decisions this process does not remember. */
  afterStream?: AfterStreamDecisions;
  /** The leads, if leads are kept. */
  leads?: Leads;
  /** Post-call analyses, joined to the records as `outcome`. */
  analyses?: AnalysisJobs;
  /** Campaigns and the do-not-call list (every store keeps them; absent only without a store): the dialer runs over them. */
  campaigns?: DialerParts;
  /** Where a call's live feed (SSE) hears its events: the store's bus across instances. @default hub */
  feeds?: Pick<EventBus, "subscribe">;
  /** Commands to the instance running a call (several instances on Postgres). */
  control?: CallControl;
  /** The cluster's figures for `/metrics` (several instances on Postgres). */
  cluster?: ClusterView;
  /** Where the call recordings are read. */
  recordings?: RecordingSource;
  /** Used for Twilio's REST API. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** The listener's figures (descriptor exhaustion), for `/metrics`. */
  listenerHealth?: () => ListenerHealth | undefined;
  /** The webhook outbox and worker, if the store keeps an outbox. */
  webhooks?: Webhooks;
  /** Prices for a rehearsal's cost. */
  prices: PriceTable;
  /** Opens upstream sockets (a rehearsal's caller sessions). */
  connectUpstream: UpstreamConnector;
  /** Where this server is reached on this machine, for the Rehearse button's virtual phone. */
  selfOrigin: () => string;
  /** The folder of scenario files. @default "scenarios" */
  scenariosDir?: string;
}

/** The handlers, and what to end on shutdown. */
export interface RouteHandlers {
  handlers: Record<HandlerName, RouteHandler>;
  /** The campaign dialer, when campaigns are kept (not started: the server starts it). */
  dialer: Dialer | undefined;
  /** Ends the hub subscriptions the handlers hold. */
  close(): void;
}

/**
 * Builds every handler of the route table.
 *
 * @example
 * ```ts
 * const routes = createRouteHandlers({ config, personas, hub, log, counters, metrics, … });
 * const route = createRouter({ rows: ROUTES, handlers: routes.handlers, guards, notFound });
 * ```
 */
export function createRouteHandlers(parts: HandlerParts): RouteHandlers {
  const { config, personas, hub, log, counters, metrics, admission, relays, prewarms, tokens, sessions } =
    parts;
  const refusedCalls = { capacity: 0, draining: 0 };
  let refusedStreams = 0;
  /** The engine a persona's calls run on (its voices are the ones a call may pick). */
  const engineOf = (id: string) => {
    const persona = personas.get(id)?.persona;
    return persona === undefined ? undefined : engineForModel(persona.model ?? config.realtimeModel);
  };
  const afterStreamRoutes = createAfterStreamRoutes({
    config,
    personas,
    hub,
    log,
    ...(parts.afterStream === undefined ? {} : { store: parts.afterStream }),
  });
  const records = parts.store === undefined ? undefined : createCallRecordsHandlers({
    store: parts.store,
    hub: parts.feeds ?? hub,
    signal: parts.shutdownSignal,
    ...(parts.analyses === undefined ? {} : { analyses: parts.analyses }),
    ...(parts.recordings === undefined ? {} : { recordingOf: recordingSummaryOf(parts.recordings) }),
  });
  const noRecords = () => jsonError(503, "Call records are not kept by this server");
  const leads = parts.leads === undefined ? undefined : createLeadsHandlers(parts.leads);
  // Every store keeps leads, campaigns and the do-not-call list; only a server built without a
  // store (a test harness) answers their routes 503.
  const notKept = (what: string) => async (request: Request) => {
    await request.body?.cancel();
    return jsonError(503, `${what} are not kept by this server`);
  };
  const noLeads = notKept("Leads");
  const signIn = createSignInHandlers({ sessions, apiToken: () => config.apiToken });
  const pages = createPagesHandlers();
  const deliveries = parts.webhooks === undefined
    ? undefined
    : createWebhookDeliveriesHandlers(parts.webhooks);
  const noDeliveries = async (request: Request) => {
    await request.body?.cancel();
    return jsonError(503, "Webhook deliveries are not kept by this server");
  };
  const personasRoutes = createPersonasHandlers({ personas, defaultModel: config.realtimeModel });
  // One call-placing service for POST /api/calls and the dialer.
  const placeOutbound = createOutboundCalls({
    config,
    hub,
    log,
    ...(parts.fetch === undefined ? {} : { fetch: parts.fetch }),
  });
  const kept = parts.campaigns;
  const dialer = kept === undefined ? undefined : new Dialer({
    campaigns: kept.campaigns,
    doNotCall: kept.doNotCall,
    instance: kept.instance,
    placeCall: placeOutbound,
    findCalls: createCallFinder({ config, ...(parts.fetch === undefined ? {} : { fetch: parts.fetch }) }),
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
  const campaignRoutes = kept === undefined || parts.leads === undefined
    ? undefined
    : createCampaignsHandlers({
      campaigns: kept.campaigns,
      doNotCall: kept.doNotCall,
      leads: parts.leads,
      personaIds: () => personas.ids(),
      engineOf,
      wake: () => void dialer?.tick(),
      ...(kept.now === undefined ? {} : { now: kept.now }),
    });
  const noCampaigns = notKept("Campaigns");

  const handlers: Record<HandlerName, RouteHandler> = {
    mediaStream: createMediaUpgradeHandler({
      log,
      tokens,
      prewarms,
      onRefused: () => refusedStreams++,
      startRelay: (socket, callSid, prewarm) => {
        // No pre-warm here: the webhook may have reached another instance, which closes its own now.
        if (prewarm === undefined) {
          tellOtherInstances(parts.control, { type: "stream_elsewhere", callSid }, log);
        }
        relays.start(socket, callSid, prewarm);
      },
    }),
    voiceWebhook: createVoiceWebhookHandler({
      config,
      personas,
      hub,
      log,
      admission,
      tokens,
      prewarms,
      engineOf,
      onRefused: (reason) => refusedCalls[reason]++,
    }),
    twilioStatus: createTwilioStatusHandler({
      hub,
      log,
      // The answering-machine result reaches the instance running the call's relay (found by CallSid).
      onAnsweredBy: (callSid, answeredBy) => {
        const relay = relays.get(callSid);
        if (relay !== undefined) relay.machineAnswered(answeredBy);
        else tellOtherInstances(parts.control, { type: "machine_answered", callSid, answeredBy }, log);
      },
    }),
    afterStream: afterStreamRoutes.afterStream,
    dialAction: afterStreamRoutes.dialAction,
    // 503 while draining: a load balancer stops sending calls here, the calls in progress go on.
    health: () =>
      jsonResponse(admission.draining ? 503 : 200, {
        status: admission.draining ? "draining" : "ok",
        activeCalls: relays.size,
      }),
    metrics: createMetricsHandler({
      metrics,
      counters,
      activeCalls: () => relays.size,
      server: () => ({
        ...(parts.store === undefined ? {} : { store: parts.store.health() }),
        refusedCalls,
        refusedStreams,
        draining: admission.draining,
        prewarms: { outcomes: prewarms.outcomes, waiting: prewarms.size },
        listener: parts.listenerHealth?.(),
      }),
      // A database that cannot answer now leaves the cluster's figures out; this instance's stay.
      ...(parts.cluster === undefined
        ? {}
        : { cluster: () => parts.cluster!.figures().catch(() => undefined) }),
    }),
    signInPage: signIn.page,
    signIn: signIn.signIn,
    signOut: signIn.signOut,
    placeCall: createPlaceCallHandler({
      config,
      hub,
      log,
      personaIds: () => personas.ids(),
      defaultPersona: config.defaultPersona,
      engineOf,
      refuseNewCall: () => admission.refusal()?.message,
      placeOutbound,
    }),
    listCalls: records?.listCalls ?? noRecords,
    getCall: records?.getCall ?? noRecords,
    exportCalls: records?.exportCalls ?? noRecords,
    callEvents: records?.callEvents ?? noRecords,
    callRecording: parts.recordings === undefined
      ? () => jsonError(404, "This server keeps no recordings")
      : createRecordingHandler(parts.recordings),
    hangUp: createHangUpHandler({
      config,
      log,
      endStream: (callSid) => {
        const relay = relays.get(callSid);
        relay?.hangUp();
        return relay !== undefined;
      },
      userHangingUp: (callSid) => {
        const relay = relays.get(callSid);
        relay?.userHangingUp();
        return relay !== undefined;
      },
      ...(parts.store === undefined ? {} : { isOpenCall: parts.store.isOpenCall.bind(parts.store) }),
      ...(parts.control === undefined ? {} : { control: parts.control }),
      ...(parts.fetch === undefined ? {} : { fetch: parts.fetch }),
    }),
    listLeads: leads?.listLeads ?? noLeads,
    createLead: leads?.createLead ?? noLeads,
    importLeads: leads?.importLeads ?? noLeads,
    getLead: leads?.getLead ?? noLeads,
    updateLead: leads?.updateLead ?? noLeads,
    deleteLead: leads?.deleteLead ?? noLeads,
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
    listPersonas: personasRoutes.listPersonas,
    getPersona: personasRoutes.getPersona,
    previewPersona: personasRoutes.previewPersona,
    listVoices: personasRoutes.listVoices,
    listDeliveries: deliveries?.listDeliveries ?? noDeliveries,
    redeliver: deliveries?.redeliver ?? noDeliveries,
    rehearse: createRehearseHandler({
      config,
      personas,
      prices: parts.prices,
      log,
      selfOrigin: parts.selfOrigin,
      ...(parts.scenariosDir === undefined ? {} : { scenariosDir: parts.scenariosDir }),
      connect: parts.connectUpstream,
      signal: parts.shutdownSignal,
    }),
    softphone: createSoftphoneHandler({
      personas,
      defaultModel: config.realtimeModel,
      hub,
      log,
      refuseNewCall: () => admission.refusal()?.message,
      startRelay: relays.start,
    }),
    home: pages.home,
    webFile: pages.webFile,
    page: pages.page,
  };

  return {
    handlers,
    dialer,
    close() {
      dialer?.close();
      afterStreamRoutes.close();
    },
  };
}
