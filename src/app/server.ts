/**
 * Parley's HTTP surface, wired: builds each route's handler from its collaborators (each route's
 * logic lives in its own module under `api/`) and hands them to the route table (`routes.ts`, where
 * every route's method, path, guard and body limit stand on one line). Tests and the benchmark pass
 * fakes; nothing patches globals.
 *
 * @module
 */

import type { RelayCounters } from "../calls/relay_counters.ts";
import type { CallHub } from "../calls/call_hub.ts";
import type { FrameTap } from "../relay/frame_tap.ts";
import type { RecordingsDir } from "../recordings/recordings_dir.ts";
import { MAX_RING_MS, SHUTDOWN_BEFORE_STREAM, watchNeverConnected } from "../calls/never_connected.ts";
import { createCallStatusReader } from "../calls/place_call.ts";
import { settleTakenUpCalls } from "../calls/taken_up_status.ts";
import type { ParleyConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { PersonaRegistry } from "../personas/types.ts";
import { createMetrics, type Metrics } from "../metrics/metrics.ts";
import { DEFAULT_PRICES, type PriceTable } from "../engines/prices.ts";
import { MEDIA_STREAM_PATH, STATUS_CALLBACK_PATH, VOICE_WEBHOOK_PATH } from "../paths.ts";
import { createSessions, type Sessions } from "../http/session.ts";
import { guardRequests, type ServeHandler } from "./middleware/front_door.ts";
import type { ListenerHealth } from "../http/listener.ts";
import type {
  AfterStreamDecisions,
  AnalysisJobs,
  CallRecords,
  ClusterView,
  EventBus,
  Leads,
  RingingRecord,
  SignInSessions,
  UsedStreamTokens,
} from "../store/ports.ts";
import { catchUnhandled } from "./middleware/unhandled.ts";
import { notFoundResponse } from "../api/pages.ts";
import { ROUTES } from "./routes.ts";
import { createRouter } from "./router.ts";
import type { GuardOptions } from "./middleware/guards.ts";
import type { RecordingLinks } from "../recordings/recording_link.ts";
import type { WebhookOutbox } from "../store/webhook_outbox.ts";
import { createRouteHandlers } from "./handlers.ts";
import type { DialerParts } from "./handler_parts.ts";
import type { Dialer } from "../dialer/dialer.ts";
import type { CallControl } from "../calls/call_control.ts";
import { obeyCallCommands } from "./cluster_control.ts";
import { errorText } from "../log.ts";
import type { RecordingSource } from "../recordings/serve_wav.ts";
import type { UpstreamConnector } from "../engines/upstream_socket.ts";
import type { StreamTokens } from "../twilio/stream_token.ts";
import type { Webhooks, WebhookTiming } from "../outcomes/webhooks/webhooks.ts";
import { AFTER_STREAM_GRACE_MS, OwedAfterStreams } from "./owed_after_streams.ts";
import {
  createCallIntake,
  optionalHandlerParts,
  startAnalysis,
  subscribeRecorders,
  wireRecordings,
} from "./server_parts.ts";

export { AFTER_STREAM_GRACE_MS, MEDIA_STREAM_PATH, STATUS_CALLBACK_PATH, VOICE_WEBHOOK_PATH };

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
  /**
   * How long the `<Connect action>` waits for a decision another instance is still storing, or for a
   * call store that fails to answer, before the fallback, ms. @default PENDING_DECISION_WAIT_MS (3000)
   */
  afterStreamWaitMs?: number;
  /**
   * How long the voice webhook waits for the store to say whether a CallSid it does not remember was
   * started or ended, ms. @default SEEN_BEFORE_WAIT_MS (1000)
   */
  seenBeforeWaitMs?: number;
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
  /**
   * Ends every call and waits for the relays to finish. With `leavePlaced` (the next start has this
   * instance's name), calls placed here whose stream has not started are left open for the next start
   * to take up ({@linkcode Parley.takeUpRinging}): logged once, and noted as ended by `server_shutdown`
   * should the next start come too late (`CallRecords.noteCutRecords`).
   */
  shutdown(options?: { leavePlaced?: boolean }): Promise<void>;
  /**
   * At startup: follows again the calls the previous run placed that were still ringing (or awaiting
   * their stream) when it stopped (`CallRecords.takeUpRingingRecords`): each holds an admission slot
   * as a placed call does, its voice webhook is answered with the persona it was placed with, and the
   * never-connected watch ends it as it would have (a final status, a hang-up, its old deadline).
   */
  takeUpRinging(records: readonly RingingRecord[]): void;
  /**
   * After {@linkcode Parley.shutdown}, before the HTTP server stops: resolves once Twilio has requested
   * the `<Connect action>` of every phone call whose stream this instance closed since the drain began,
   * or `graceMs` has passed; resolves to how many were not requested in time.
   */
  afterStreamsRequested(graceMs?: number): Promise<number>;
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
  const metrics = createMetrics(options.prices === undefined ? {} : { prices: options.prices });
  // Ends open live feeds (SSE) on shutdown, so the server can finish.
  const shutdownSignal = new AbortController();
  const recorders = subscribeRecorders(options, metrics);
  const webhooks = recorders.webhooks;
  const neverConnected = watchNeverConnected(hub, {
    log,
    // A call placed here may run on another instance: its shared record says so; its slot is freed.
    ...(options.store === undefined ? {} : { records: options.store }),
    onElsewhere: (callSid) => admission.elsewhere(callSid),
    ...(options.streamConnectTimeoutMs === undefined ? {} : { timeoutMs: options.streamConnectTimeoutMs }),
  });
  const recordings = wireRecordings(options, webhooks);
  const intake = createCallIntake(options, recordings.tap);
  const { connectUpstream, tokens, prewarms, admission, relays } = intake;
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
    neverConnected,
    tokens,
    sessions,
    shutdownSignal: shutdownSignal.signal,
    prices: options.prices ?? DEFAULT_PRICES,
    connectUpstream,
    selfOrigin: options.selfOrigin ?? (() => `http://127.0.0.1:${config.port}`),
    ...optionalHandlerParts(options),
    ...(recordings.source === undefined ? {} : { recordings: recordings.source }),
    ...(webhooks === undefined ? {} : { webhooks }),
  });
  const offControl = options.control === undefined
    ? undefined
    : obeyCallCommands(options.control, relays, prewarms, admission, neverConnected, log);
  const owed = new OwedAfterStreams(hub, log);
  const afterStream = routes.handlers.afterStream;
  const route = createRouter({
    rows: ROUTES,
    handlers: {
      ...routes.handlers,
      // Counted once answered: the server stops only after the answer went out.
      afterStream: async (request, context) => {
        const response = await afterStream(request, context);
        owed.requested(context.form.CallSid);
        return response;
      },
    },
    guards: routeGuards(config, sessions, log, recordings.links),
    notFound: notFoundResponse,
  });
  const analysis = startAnalysis(options);
  routes.dialer?.start().catch((error) => {
    log.error(`Dialer: could not start: ${errorText(error)}`);
  });
  return {
    metrics,
    webhooks,
    dialer: routes.dialer,
    activeCalls: () => relays.size,
    handler: guardRequests(catchUnhandled(route, log), { log, trustedProxies: config.trustedProxies }),
    drain: () => {
      owed.watch();
      options.cluster?.stopSweeping();
      return admission.drain();
    },
    analyzeEnded: (callSids) => analysis?.enqueueEnded(callSids),
    announceRecordings: (callSids) => recordings.ready.announceRepaired(callSids),
    afterStreamsRequested: (graceMs = AFTER_STREAM_GRACE_MS) => owed.wait(graceMs),
    takeUpRinging(records) {
      const wallNow = Date.now();
      for (const record of records) {
        admission.takeUp(record.callSid, record.persona, record.placedAt + MAX_RING_MS - wallNow);
        neverConnected.takeUp(record);
      }
      // A final status sent while this instance was down is lost: Twilio is asked for it.
      const readStatus = createCallStatusReader({ config, fetch: options.fetch ?? fetch });
      const callSids = records.map((record) => record.callSid);
      if (callSids.length > 0) void settleTakenUpCalls(callSids, { readStatus, hub: options.hub, log });
    },
    async shutdown(shutdownOptions = {}) {
      owed.watch(); // the calls cut now: their <Connect action> request comes once Twilio sees the close
      shutdownSignal.abort();
      await Promise.all([relays.shutdown(), prewarms.close()]);
      await analysis?.stop();
      const left = await neverConnected.close(shutdownOptions);
      if (left.length > 0) await noteLeftRinging(left, options.store, log);
      // Nothing is left to wait for: a drain in progress is over.
      admission.close();
      intake.off();
      recorders.off();
      await options.recordings?.settle(); // the recordings' last writes, headers and states
      await recordings.ready.close();
      await webhooks?.close();
      offControl?.();
      routes.close();
    },
  };
}

/**
 * The placed calls a shutdown left ringing, open for the next start: logged once, and noted (where the
 * store can) as ended by `server_shutdown`, which a start too late to take them up closes them with.
 */
async function noteLeftRinging(
  left: readonly string[],
  store: CallRecords | undefined,
  log: Logger,
): Promise<void> {
  try {
    await store?.noteCutRecords?.("server_shutdown", SHUTDOWN_BEFORE_STREAM, { callSids: left });
  } catch (error) {
    log.error(`Cannot note why the ringing calls left open ended: ${errorText(error)}`);
  }
  log.info(
    `Left ${left.length} ringing call(s) open for the next start to take up: ` +
      `${left.slice(0, 5).join(", ")}${left.length > 5 ? ", …" : ""}`,
  );
}

/** What the route table's guards check against: sessions, the API token, Twilio's signature, signed recording links. */
function routeGuards(
  config: ServerConfig,
  sessions: Sessions,
  log: Logger,
  recordingLinks: RecordingLinks,
): GuardOptions {
  return {
    sessions,
    apiToken: () => config.apiToken,
    metricsPublic: config.metricsPublic,
    twilio: {
      authToken: config.twilioAuthToken,
      publicBaseUrl: config.publicBaseUrl,
      publicInstanceUrl: config.publicInstanceUrl,
      enabled: config.twilioSignatureCheck,
    },
    log,
    recordingLinks,
  };
}
