/**
 * Parley's HTTP surface, wired: builds each route's handler from its collaborators (each route's
 * logic lives in its own module under `api/`) and hands them to the route table (`routes.ts`, where
 * every route's method, path, guard and body limit stand on one line). Tests and the benchmark pass
 * fakes; nothing patches globals.
 *
 * @module
 */

import { Admission } from "../calls/admission.ts";
import type { RelayCounters } from "../calls/relay_counters.ts";
import type { CallHub } from "../calls/call_hub.ts";
import { LiveRelays } from "../relay/live_relays.ts";
import type { FrameTap } from "../relay/frame_tap.ts";
import type { RecordingsDir } from "../recordings/recordings_dir.ts";
import { folderSource, type RecordingSource } from "../recordings/serve_wav.ts";
import { bothTaps, recordingTap } from "../recordings/recording_tap.ts";
import { createRecordingLinks } from "../recordings/recording_link.ts";
import { announceRecordings } from "../outcomes/webhooks/recording_ready.ts";
import { watchNeverConnected } from "../calls/never_connected.ts";
import type { ParleyConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { PersonaRegistry } from "../personas/types.ts";
import { PREWARM_TTL_MS, Prewarms } from "../relay/prewarm.ts";
import { createEngineChooser } from "../engines/registry.ts";
import { connectOpenAI, type UpstreamConnector } from "../engines/upstream_socket.ts";
import { createStreamTokens, STREAM_TOKEN_TTL_MS, type StreamTokens } from "../twilio/stream_token.ts";
import { createMetrics, type Metrics } from "../metrics/metrics.ts";
import { DEFAULT_PRICES, type PriceTable } from "../engines/prices.ts";
import { MEDIA_STREAM_PATH, STATUS_CALLBACK_PATH, VOICE_WEBHOOK_PATH } from "../paths.ts";
import { createSessions } from "../http/session.ts";
import { guardRequests, type ServeHandler } from "./middleware/front_door.ts";
import type { ListenerHealth } from "../http/listener.ts";
import { AnalysisWorker } from "../analysis/worker.ts";
import type {
  AfterStreamDecisions,
  AnalysisJobs,
  CallRecords,
  ClusterView,
  EventBus,
  Leads,
  SignInSessions,
  UsedStreamTokens,
} from "../store/ports.ts";
import { catchUnhandled } from "./middleware/unhandled.ts";
import { notFoundResponse } from "../api/pages.ts";
import { ROUTES } from "./routes.ts";
import { createRouter } from "./router.ts";
import { startWebhooks, type Webhooks, type WebhookTiming } from "../outcomes/webhooks/webhooks.ts";
import type { WebhookOutbox } from "../store/webhook_outbox.ts";
import { createRouteHandlers } from "./handlers.ts";
import type { DialerParts } from "./handler_parts.ts";
import type { Dialer } from "../dialer/dialer.ts";
import type { CallControl } from "../calls/call_control.ts";
import { obeyCallCommands } from "./cluster_control.ts";
import { errorText } from "../log.ts";

export { MEDIA_STREAM_PATH, STATUS_CALLBACK_PATH, VOICE_WEBHOOK_PATH };

/** The configuration the server runs with: the public URL is known by now. */
export type ServerConfig = ParleyConfig & { publicBaseUrl: string };

/** Collaborators of {@linkcode createParley}. */
export interface ParleyOptions {
  config: ServerConfig;
  personas: PersonaRegistry;
  log: Logger;
  hub: CallHub;
  counters: RelayCounters;
  /** The call records, if records are kept. */
  store?: CallRecords;
  /** Where the `<Connect action>` reads decisions this process does not remember. @default none */
  afterStream?: AfterStreamDecisions;
  /** The leads, if leads are kept. */
  leads?: Leads;
  /** Campaigns and the do-not-call list, if kept (with `leads`): the campaign dialer runs over them. */
  campaigns?: DialerParts;
  /** The listener's figures (descriptor exhaustion), for `/metrics`; see `src/http/listener.ts`. */
  listenerHealth?: () => ListenerHealth | undefined;
  /** Opens upstream sockets. @default connectOpenAI (npm:ws, Nagle off) */
  connectUpstream?: UpstreamConnector;
  /** Used for Twilio's REST API. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** A session that owes an answer and stays silent this long is replaced, ms. @default 15000 */
  stallMs?: number;
  /** Close media sockets that send no `start` within this many ms. @default 10000 */
  startTimeoutMs?: number;
  /** Close a media socket that sends no frame for this long, ms. @default 30000 */
  mediaSilenceMs?: number;
  /** Prices for the cost metric. @default the built-in table */
  prices?: PriceTable;
  /** End records whose media stream has not started this long after the webhook. @default 60000 */
  streamConnectTimeoutMs?: number;
  /** Issues and checks per-call stream tokens. @default keyed by TWILIO_AUTH_TOKEN */
  streamTokens?: StreamTokens;
  /** The ledger of used stream tokens (shared by instances on one store). @default in memory */
  usedStreamTokens?: UsedStreamTokens;
  /** Where sign-in sessions are kept. @default in memory */
  signInSessions?: SignInSessions;
  /** Where a call's live feed (SSE) hears its events: the store's bus across instances. @default hub */
  feeds?: Pick<EventBus, "subscribe">;
  /** Commands between the instances on one database (hang-up, answering machine, unused pre-warm). @default none */
  control?: CallControl;
  /** The cluster's figures for `/metrics` (several instances on one database). @default none */
  cluster?: ClusterView;
  /** Close a session pre-warmed on the webhook that no stream claims within this many ms. @default 15000 */
  prewarmTtlMs?: number;
  /** The webhook outbox (sent to `WEBHOOK_URL` when set). @default none: no webhooks, no delivery log */
  outbox?: WebhookOutbox;
  /** The webhook worker's clock, fetch and delays. @default the real ones */
  webhookTiming?: WebhookTiming;
  /** Where this server is reached on this machine, for the Rehearse button's virtual phone. @default http://127.0.0.1:PORT */
  selfOrigin?: () => string;
  /** The folder of scenario files. @default "scenarios" */
  scenariosDir?: string;
  /** Observers of every call's audio (a recorder): see `src/relay/frame_tap.ts`. */
  tap?: FrameTap;
  /** Post-call analyses (with `store`): the worker of `src/analysis/worker.ts` runs over them. */
  analyses?: AnalysisJobs;
  /** Where calls of personas with `record: true` are recorded (and served from, by default). */
  recordings?: RecordingsDir;
  /** Where recordings are served from (the folder and a bucket). @default the `recordings` folder */
  recordingSource?: RecordingSource;
}

/** A built server: its handler, and what `main.ts` needs to run and stop it. */
export interface Parley {
  /** Serves every route (behind the throttle and security headers of `middleware/front_door.ts`). */
  handler: ServeHandler;
  /** Calls being relayed now. */
  activeCalls(): number;
  /** The campaign dialer, when campaigns are kept. */
  dialer: Dialer | undefined;
  /** The metrics registry (listens to the hub). */
  metrics: Metrics;
  /**
   * Stops taking new calls (the webhook answers the fallback, `/healthz` says `draining`); live
   * calls, and calls whose webhook was answered before, go on. Resolves when no call is relayed
   * and no answered call can still come (its pre-warm's lifetime, `prewarmTtlMs`, has passed).
   */
  drain(): Promise<void>;
  /** Ends every call and waits for the relays to finish. */
  shutdown(): Promise<void>;
  /** Queues the post-call analyses of calls closed without a `call.ended` (a crashed run's, at startup). */
  analyzeEnded(callSids: readonly string[]): void;
  /** The webhooks (with an outbox): `main.ts` announces the ends of calls a crash left open. */
  webhooks: Webhooks | undefined;
  /** Sends `recording.ready` for recordings startup repaired (webhooks on); resolves once enqueued. */
  announceRecordings(callSids: readonly string[]): Promise<void>;
}

/**
 * Builds Parley's request handler.
 *
 * @example
 * ```ts
 * const parley = createParley({ config, personas, log, hub, counters });
 * Deno.serve({ port: config.port }, parley.handler);
 * ```
 */
export function createParley(options: ParleyOptions): Parley {
  const { config, personas, log, hub, counters } = options;
  const connectUpstream = options.connectUpstream ?? connectOpenAI;
  const engineFor = createEngineChooser(config.engineEndpoints);
  const metrics = createMetrics(options.prices === undefined ? {} : { prices: options.prices });
  // Ends open live feeds (SSE) on shutdown, so the server can finish.
  const shutdownSignal = new AbortController();
  const offMetrics = hub.subscribe(metrics.listener);
  const offStore = options.store === undefined ? undefined : hub.subscribe(options.store.listener);
  // After the store's listener: the record a payload is built from holds the event.
  const webhooks = options.outbox === undefined ? undefined : startWebhooks({
    outbox: options.outbox,
    settings: config.webhook,
    calls: options.store,
    instance: config.instanceId,
    log,
    ...(options.webhookTiming === undefined ? {} : { timing: options.webhookTiming }),
  });
  const offWebhooks = webhooks === undefined ? undefined : hub.subscribe(webhooks.listener);
  const neverConnected = watchNeverConnected(hub, {
    log,
    ...(options.streamConnectTimeoutMs === undefined ? {} : { timeoutMs: options.streamConnectTimeoutMs }),
  });
  const signature = {
    authToken: config.twilioAuthToken,
    publicBaseUrl: config.publicBaseUrl,
    publicInstanceUrl: config.publicInstanceUrl,
    enabled: config.twilioSignatureCheck,
  };
  const tokens = options.streamTokens ?? createStreamTokens({
    secret: config.twilioAuthToken,
    ...(options.usedStreamTokens === undefined ? {} : { used: options.usedStreamTokens }),
  });
  const prewarmTtlMs = options.prewarmTtlMs ?? PREWARM_TTL_MS;
  const prewarms = new Prewarms({
    log,
    setup: { personas, defaultPersona: config.defaultPersona, defaultModel: config.realtimeModel, engineFor },
    apiKey: config.openaiApiKey,
    connect: connectUpstream,
    ttlMs: prewarmTtlMs,
    onExpiredUsage: (event) => hub.emit(event),
  });
  const store = options.store;
  const admission = new Admission({
    maxConcurrentCalls: config.maxConcurrentCalls,
    // A socket later than its pre-warm finds none and is rare: no slot or drain waits longer.
    connectWindowMs: prewarmTtlMs,
    answerTtlMs: STREAM_TOKEN_TTL_MS,
    ...(store === undefined ? {} : {
      seenBefore: async (callSid: string) => {
        const record = await store.getCall(callSid);
        return record !== undefined && (record.startedAt !== null || record.endedAt !== null);
      },
    }),
  });
  const offAdmission = hub.subscribe(admission.listener);
  const recordings = options.recordings;
  const tap = bothTaps(options.tap, recordings && recordingTap(recordings, personas, log));
  const recordingSource = recordings && (options.recordingSource ?? folderSource(recordings));
  // recording.ready: a signed link (keyed by WEBHOOK_SECRET) the recording route's guard honours.
  const recordingLinks = createRecordingLinks(config.webhook?.secret);
  const recordingsReady = announceRecordings({
    recordings,
    source: recordingSource,
    webhooks,
    links: recordingLinks,
    publicBaseUrl: config.publicBaseUrl,
    log,
  });
  const relays = new LiveRelays(
    {
      engineFor,
      defaultModel: config.realtimeModel,
      apiKey: config.openaiApiKey,
      personas,
      defaultPersona: config.defaultPersona,
      connectUpstream,
      log,
      counters,
      sessionRolloverMs: config.sessionRolloverMinutes * 60_000,
      ...(options.stallMs === undefined ? {} : { stallMs: options.stallMs }),
      ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
      ...(tap === undefined ? {} : { tap }),
    },
    hub,
    admission,
  );

  const sessions = createSessions({
    apiToken: () => config.apiToken,
    publicBaseUrl: config.publicBaseUrl,
    ...(options.signInSessions === undefined ? {} : { store: options.signInSessions }),
  });
  const routes = createRouteHandlers({
    config,
    personas,
    hub,
    log,
    counters,
    metrics,
    admission,
    relays,
    prewarms,
    tokens,
    sessions,
    shutdownSignal: shutdownSignal.signal,
    prices: options.prices ?? DEFAULT_PRICES,
    connectUpstream,
    selfOrigin: options.selfOrigin ?? (() => `http://127.0.0.1:${config.port}`),
    ...(options.scenariosDir === undefined ? {} : { scenariosDir: options.scenariosDir }),
    ...(options.mediaSilenceMs === undefined ? {} : { mediaSilenceMs: options.mediaSilenceMs }),
    ...(options.store === undefined ? {} : { store: options.store }),
    ...(options.afterStream === undefined ? {} : { afterStream: options.afterStream }),
    ...(options.leads === undefined ? {} : { leads: options.leads }),
    ...(options.analyses === undefined ? {} : { analyses: options.analyses }),
    ...(options.campaigns === undefined ? {} : { campaigns: options.campaigns }),
    ...(options.feeds === undefined ? {} : { feeds: options.feeds }),
    ...(options.control === undefined ? {} : { control: options.control }),
    ...(options.cluster === undefined ? {} : { cluster: options.cluster }),
    ...(recordingSource === undefined ? {} : { recordings: recordingSource }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ...(options.listenerHealth === undefined ? {} : { listenerHealth: options.listenerHealth }),
    ...(webhooks === undefined ? {} : { webhooks }),
  });

  const offControl = options.control === undefined
    ? undefined
    : obeyCallCommands(options.control, relays, prewarms, admission, neverConnected, log);

  const route = createRouter({
    rows: ROUTES,
    handlers: routes.handlers,
    guards: {
      sessions,
      apiToken: () => config.apiToken,
      metricsPublic: config.metricsPublic,
      twilio: signature,
      log,
      recordingLinks,
    },
    notFound: notFoundResponse,
  });
  const analysis = options.analyses === undefined || store === undefined ? undefined : new AnalysisWorker({
    jobs: options.analyses,
    calls: store,
    personas,
    bus: hub,
    endpoint: { baseUrl: config.openaiBaseUrl, apiKey: config.openaiApiKey },
    defaultModel: config.analysisModel,
    instance: config.instanceId,
    prices: options.prices ?? DEFAULT_PRICES,
    log,
  });
  analysis?.start().catch((error) => {
    log.error(`Analysis: could not start: ${errorText(error)}`);
  });
  routes.dialer?.start().catch((error) => {
    log.error(`Dialer: could not start: ${errorText(error)}`);
  });
  return {
    metrics,
    webhooks,
    dialer: routes.dialer,
    activeCalls: () => relays.size,
    handler: guardRequests(catchUnhandled(route, log), { log, trustedProxies: config.trustedProxies }),
    drain: () => admission.drain(),
    analyzeEnded: (callSids) => analysis?.enqueueEnded(callSids),
    announceRecordings: (callSids) => recordingsReady.announceRepaired(callSids),
    async shutdown() {
      shutdownSignal.abort();
      await Promise.all([relays.shutdown(), prewarms.close()]);
      await analysis?.stop();
      neverConnected.close();
      // Nothing is left to wait for: a drain in progress is over.
      admission.close();
      offAdmission();
      offMetrics();
      offStore?.();
      offWebhooks?.();
      await recordings?.settle(); // the recordings' last writes, headers and states
      await recordingsReady.close();
      await webhooks?.close();
      offControl?.();
      routes.close();
    },
  };
}
