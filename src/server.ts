/**
 * Parley's HTTP surface: one request handler wired from its collaborators (each route's logic lives
 * in its own module), so tests and the benchmark pass fakes and nothing patches globals.
 *
 * | route | what |
 * | --- | --- |
 * | `POST /api/twilio/voice-realtime` | Twilio's voice webhook → `<Connect><Stream>` TwiML with a per-call stream token, once per CallSid (the placed call's persona, else `?persona=`, else INBOUND_PERSONA); see `twilio/voice_webhook.ts` |
 * | `GET /twilio-realtime-voice/<token>` | Twilio's Media Stream socket → one relay per call (token from the webhook) |
 * | `POST /api/twilio/status` | Twilio's call progress callback |
 * | `POST /api/twilio/after-stream` | `<Connect action>`: hang up, dial or fallback once the stream ended |
 * | `POST /api/twilio/dial-action` | `<Dial action>`: a failed transfer hears `transferFailedMessage` |
 * | `POST /api/calls` | place an outbound call |
 * | `GET /api/calls`, `/api/calls/:callSid`, `/api/calls/:callSid/events` | call records, live feed |
 * | `POST /api/calls/:callSid/hangup` | hang up a call |
 * | `GET/POST/PATCH/DELETE /api/leads…`, `POST /api/leads/import` | leads |
 * | `GET /api/personas`, `/api/personas/:id/preview`, `/api/voices` | personas, previews, voices |
 * | `POST /api/personas/:id/rehearse` | runs the persona's scenarios against this server, results as SSE |
 * | `GET /api/softphone` | the browser's call socket (session cookie) → the same relay as a phone call |
 * | `GET/POST /login`, `POST /logout` | sign-in for the pages |
 * | `GET /calling`, `/leads`, `/calls`, `/calls/:callSid`, `/personas`, `/personas/:id`, `/web/…` | pages |
 * | `GET /metrics` | Prometheus metrics |
 * | `GET /healthz` | `ok` (200) or `draining` (503), and active calls |
 *
 * @module
 */

import { Admission } from "./calls/admission.ts";
import type { CallHub, RelayCounters } from "./calls/call_events.ts";
import { LiveRelays } from "./calls/live_relays.ts";
import { watchNeverConnected } from "./calls/never_connected.ts";
import type { ParleyConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import type { PersonaRegistry } from "./personas/types.ts";
import { PREWARM_TTL_MS, Prewarms } from "./relay/prewarm.ts";
import { createEngineChooser } from "./engines/registry.ts";
import { connectOpenAI, type UpstreamConnector } from "./engines/upstream_socket.ts";
import {
  createStreamTokens,
  redactStreamPath,
  STREAM_TOKEN_TTL_MS,
  type StreamTokens,
} from "./twilio/stream_token.ts";
import { refuseUnsignedTwilio } from "./twilio/signature.ts";
import { createMediaUpgradeHandler } from "./twilio/media_upgrade.ts";
import { createVoiceWebhookHandler } from "./twilio/voice_webhook.ts";
import { jsonError, jsonResponse } from "./http/responses.ts";
import { createPlaceCallHandler } from "./api/place_call.ts";
import { createTwilioStatusHandler } from "./api/twilio_status.ts";
import type { CallStore } from "./store/call_store.ts";
import { createCallRecordsHandler } from "./api/call_records.ts";
import { createMetrics, type Metrics } from "./metrics/metrics.ts";
import { createMetricsHandler } from "./api/metrics_route.ts";
import type { PriceTable } from "./engines/prices.ts";
import {
  AFTER_STREAM_PATH,
  DIAL_ACTION_PATH,
  MEDIA_STREAM_PATH,
  STATUS_CALLBACK_PATH,
  VOICE_WEBHOOK_PATH,
} from "./paths.ts";
import { createAfterStreamRoutes } from "./api/after_stream.ts";
import { createSessions } from "./http/session.ts";
import { guardRequests, type ServeHandler } from "./http/front_door.ts";
import { createSignInHandlers } from "./api/sign_in.ts";
import { createPagesHandler, isPagePath, notFoundResponse } from "./api/pages.ts";
import { createLeadsHandler } from "./api/leads.ts";
import { createPersonasHandler } from "./api/personas_route.ts";
import { createHangUpHandler, HANG_UP_PATH } from "./api/hang_up.ts";
import { createSoftphoneHandler } from "./api/softphone.ts";
import { createRehearseHandler, REHEARSE_PATH } from "./api/rehearse_route.ts";
import { DEFAULT_PRICES } from "./engines/prices.ts";
import { engineForModel } from "./engines/voices.ts";
import type { LeadStore } from "./store/leads.ts";

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
  /** The call database, if records are kept. */
  store?: CallStore;
  /** The leads table, if leads are kept. */
  leads?: LeadStore;
  /** Opens upstream sockets. @default connectOpenAI (npm:ws, Nagle off) */
  connectUpstream?: UpstreamConnector;
  /** Used for Twilio's REST API. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** A session silent this long while the caller sends audio is replaced, ms. @default 15000 */
  stallMs?: number;
  /** Close media sockets that send no `start` within this many ms. @default 10000 */
  startTimeoutMs?: number;
  /** Prices for the cost metric. @default the built-in table */
  prices?: PriceTable;
  /** End records whose media stream has not started this long after the webhook. @default 60000 */
  streamConnectTimeoutMs?: number;
  /** Issues and checks per-call stream tokens. @default keyed by TWILIO_AUTH_TOKEN */
  streamTokens?: StreamTokens;
  /** Close a session pre-warmed on the webhook that no stream claims within this many ms. @default 15000 */
  prewarmTtlMs?: number;
  /** Where this server is reached on this machine, for the Rehearse button's virtual phone. @default http://127.0.0.1:PORT */
  selfOrigin?: () => string;
  /** The folder of scenario files. @default "scenarios" */
  scenariosDir?: string;
}

/** A built server: its handler, and what `main.ts` needs to run and stop it. */
export interface Parley {
  /** Serves every route (behind the throttle and security headers of `src/http/front_door.ts`). */
  handler: ServeHandler;
  /** Calls being relayed now. */
  activeCalls(): number;
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
  const engineFor = createEngineChooser(config);
  const metrics = createMetrics(options.prices === undefined ? {} : { prices: options.prices });
  // Ends open live feeds (SSE) on shutdown, so the server can finish.
  const shutdownSignal = new AbortController();
  const offMetrics = hub.subscribe(metrics.listener);
  const offStore = options.store === undefined ? undefined : hub.subscribe(options.store.listener);
  const neverConnected = watchNeverConnected(
    hub,
    options.streamConnectTimeoutMs === undefined ? {} : { timeoutMs: options.streamConnectTimeoutMs },
  );
  const signature = {
    authToken: config.twilioAuthToken,
    publicBaseUrl: config.publicBaseUrl,
    enabled: config.twilioSignatureCheck,
  };
  const tokens = options.streamTokens ?? createStreamTokens({ secret: config.twilioAuthToken });
  const prewarmTtlMs = options.prewarmTtlMs ?? PREWARM_TTL_MS;
  const prewarms = new Prewarms({
    log,
    setup: { personas, defaultPersona: config.defaultPersona, defaultModel: config.realtimeModel, engineFor },
    apiKey: config.openaiApiKey,
    connect: connectUpstream,
    ttlMs: prewarmTtlMs,
  });
  const store = options.store;
  const admission = new Admission({
    maxConcurrentCalls: config.maxConcurrentCalls,
    // A socket later than its pre-warm finds none and is rare: no slot or drain waits longer.
    connectWindowMs: prewarmTtlMs,
    answerTtlMs: STREAM_TOKEN_TTL_MS,
    ...(store === undefined ? {} : {
      seenBefore: (callSid: string) => {
        const record = store.getCall(callSid);
        return record !== undefined && (record.startedAt !== null || record.endedAt !== null);
      },
    }),
  });
  const offAdmission = hub.subscribe(admission.listener);
  const refusedCalls = { capacity: 0, draining: 0 };
  let refusedStreams = 0;
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
    },
    hub,
    admission,
  );

  const sessions = createSessions({ apiToken: () => config.apiToken, publicBaseUrl: config.publicBaseUrl });
  const authorize = (request: Request) => sessions.authorize(request);
  /** The engine a persona's calls run on (its voices are the ones a call may pick). */
  const engineOf = (id: string) => {
    const persona = personas.get(id)?.persona;
    return persona === undefined ? undefined : engineForModel(persona.model ?? config.realtimeModel);
  };
  const placeCall = createPlaceCallHandler({
    config,
    hub,
    log,
    personaIds: () => personas.ids(),
    defaultPersona: config.defaultPersona,
    engineOf,
    authorize,
    refuseNewCall: () => admission.refusal()?.message,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  const twilioStatus = createTwilioStatusHandler({
    config,
    hub,
    log,
    // The answering-machine result reaches the instance running the call's relay (found by CallSid).
    onAnsweredBy: (callSid, answeredBy) => {
      relays.get(callSid)?.machineAnswered(answeredBy);
    },
  });
  const afterStreamRoutes = createAfterStreamRoutes({
    config,
    personas,
    hub,
    log,
    ...(options.store === undefined ? {} : { store: options.store }),
  });
  const records = options.store === undefined ? undefined : createCallRecordsHandler({
    store: options.store,
    hub,
    apiToken: config.apiToken,
    signal: shutdownSignal.signal,
    authorize,
  });
  const metricsRoute = createMetricsHandler({
    metrics,
    counters,
    activeCalls: () => relays.size,
    apiToken: config.apiToken,
    metricsPublic: config.metricsPublic,
    server: () => ({
      ...(options.store === undefined ? {} : { store: options.store.health() }),
      refusedCalls,
      refusedStreams,
      draining: admission.draining,
      prewarms: { outcomes: prewarms.outcomes, waiting: prewarms.size },
    }),
  });

  /** Checks a Twilio signature; answers 403 (and logs why) when it fails. */
  const refuseUnsigned = (request: Request, params: Record<string, string>, websocket: boolean) =>
    refuseUnsignedTwilio(request, { ...signature, params, websocket, log });

  const voiceWebhook = createVoiceWebhookHandler({
    config,
    personas,
    hub,
    log,
    admission,
    tokens,
    prewarms,
    engineOf,
    refuseUnsigned: (request, form) => refuseUnsigned(request, form, false),
    onRefused: (reason) => refusedCalls[reason]++,
  });
  const mediaStream = createMediaUpgradeHandler({
    log,
    tokens,
    prewarms,
    refuseUnsigned: (request) => refuseUnsigned(request, {}, true),
    onRefused: () => refusedStreams++,
    startRelay: relays.start,
  });

  const signIn = createSignInHandlers({ sessions, apiToken: () => config.apiToken });
  const pages = createPagesHandler(sessions);
  const leads = options.leads === undefined ? undefined : createLeadsHandler(options.leads);
  const personasRoute = createPersonasHandler({ personas, defaultModel: config.realtimeModel });
  const hangUp = createHangUpHandler({
    config,
    log,
    endStream: (callSid) => {
      const relay = relays.get(callSid);
      relay?.hangUp();
      return relay !== undefined;
    },
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  const softphone = createSoftphoneHandler({
    sessions,
    personas,
    defaultModel: config.realtimeModel,
    hub,
    log,
    refuseNewCall: () => admission.refusal()?.message,
    startRelay: relays.start,
  });

  const rehearse = createRehearseHandler({
    config,
    personas,
    prices: options.prices ?? DEFAULT_PRICES,
    log,
    selfOrigin: options.selfOrigin ?? (() => `http://127.0.0.1:${config.port}`),
    ...(options.scenariosDir === undefined ? {} : { scenariosDir: options.scenariosDir }),
    connect: connectUpstream,
    signal: shutdownSignal.signal,
  });

  /** Runs `handler` once the request is allowed (bearer token, or session cookie from this origin). */
  const guarded =
    (handler: (request: Request) => Response | Promise<Response>) => async (request: Request) => {
      const refused = authorize(request);
      if (refused !== undefined) {
        await request.body?.cancel();
        return refused;
      }
      return await handler(request);
    };

  /**
   * The route table: the first route whose path matches and whose methods include the request's
   * handles it; a path that matches with another method answers 405 (the route's own answer if it
   * has one).
   */
  const routes: Route[] = [
    {
      path: (pathname) => pathname === MEDIA_STREAM_PATH || pathname.startsWith(`${MEDIA_STREAM_PATH}/`),
      methods: ["GET"],
      handle: mediaStream,
    },
    { path: VOICE_WEBHOOK_PATH, methods: ["POST", "GET"], handle: voiceWebhook },
    { path: STATUS_CALLBACK_PATH, methods: ["POST"], handle: twilioStatus },
    { path: AFTER_STREAM_PATH, methods: ["POST"], handle: afterStreamRoutes.afterStream },
    { path: DIAL_ACTION_PATH, methods: ["POST"], handle: afterStreamRoutes.dialAction },
    {
      path: "/healthz",
      methods: ["GET"],
      // 503 while draining: a load balancer stops sending calls here, the calls in progress go on.
      handle: () =>
        jsonResponse(admission.draining ? 503 : 200, {
          status: admission.draining ? "draining" : "ok",
          activeCalls: relays.size,
        }),
    },
    { path: "/metrics", methods: ["GET"], handle: metricsRoute },
    { path: "/login", methods: ["GET"], handle: signIn.page },
    { path: "/login", methods: ["POST"], handle: signIn.signIn },
    { path: "/logout", methods: ["POST"], handle: signIn.signOut },
    { path: "/api/calls", methods: ["POST"], handle: placeCall },
    { path: HANG_UP_PATH, methods: ["POST"], handle: guarded(hangUp) },
    {
      path: /^\/api\/calls(\/.*)?$/,
      methods: ["GET"],
      handle: (request) => records?.(request) ?? jsonError(503, "Call records are not kept by this server"),
      notAllowed: (request) =>
        jsonError(405, `${request.method} is not allowed on ${new URL(request.url).pathname}`),
    },
    {
      path: /^\/api\/leads(\/.*)?$/,
      methods: ["GET", "POST", "PATCH", "DELETE"],
      handle: guarded((request) => leads?.(request) ?? jsonError(503, "Leads are not kept by this server")),
    },
    { path: REHEARSE_PATH, methods: ["POST"], handle: guarded(rehearse) },
    { path: /^\/api\/(personas(\/.*)?|voices)$/, methods: ["GET"], handle: guarded(personasRoute) },
    { path: "/api/softphone", methods: ["GET"], handle: softphone },
    { path: isPagePath, methods: ["GET"], handle: pages },
  ];

  const route = async (request: Request): Promise<Response> => {
    const { pathname } = new URL(request.url);
    const method = request.method;
    const matching = routes.filter((r) => matches(r.path, pathname));
    const found = matching.find((r) => r.methods.includes(method));
    if (found !== undefined) return await found.handle(request);
    if (matching.length > 0) {
      await request.body?.cancel();
      const last = matching[matching.length - 1]!;
      return last.notAllowed?.(request) ?? only(method, matching.flatMap((r) => r.methods))!;
    }
    return await notFoundResponse(request);
  };
  return {
    metrics,
    activeCalls: () => relays.size,
    handler: guardRequests(async (request) => {
      try {
        return await route(request);
      } catch (error) {
        const text = `Unhandled error on ${request.method} ${
          redactStreamPath(new URL(request.url).pathname)
        }: ${(error as Error).stack}`;
        for (const line of text.split("\n")) log.error(line); // the logger escapes line breaks
        return jsonError(500, "Internal server error");
      }
    }, { log }),
    drain: () => admission.drain(),
    async shutdown() {
      shutdownSignal.abort();
      await Promise.all([relays.shutdown(), prewarms.close()]);
      neverConnected.close();
      // Nothing is left to wait for: a drain in progress is over.
      admission.close();
      offAdmission();
      offMetrics();
      offStore?.();
      afterStreamRoutes.close();
    },
  };
}

/** One row of the route table. */
interface Route {
  /** An exact path, a pattern, or a test. */
  path: string | RegExp | ((pathname: string) => boolean);
  methods: string[];
  handle: (request: Request) => Response | Promise<Response>;
  /** The 405 answer, when the route has its own. */
  notAllowed?: (request: Request) => Response;
}

function matches(path: Route["path"], pathname: string): boolean {
  if (typeof path === "string") return path === pathname;
  if (path instanceof RegExp) return path.test(pathname);
  return path(pathname);
}

function only(method: string, allowed: string[]): Response | undefined {
  if (allowed.includes(method)) return undefined;
  const response = jsonError(405, `Method ${method} is not allowed here: use ${allowed.join(" or ")}`);
  response.headers.set("allow", allowed.join(", "));
  return response;
}
