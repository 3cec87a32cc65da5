/**
 * Parley's HTTP surface: one request handler built from its collaborators, so tests and the
 * benchmark pass fakes and nothing patches globals.
 *
 * | route | what |
 * | --- | --- |
 * | `POST /api/twilio/voice-realtime` | Twilio's voice webhook → `<Connect><Stream>` TwiML with a per-call stream token (`?persona=`, else INBOUND_PERSONA for inbound calls, DEFAULT_PERSONA otherwise) |
 * | `GET /twilio-realtime-voice/<token>` | Twilio's Media Stream socket → one relay per call (token from the webhook) |
 * | `POST /api/twilio/status` | Twilio's call progress callback |
 * | `POST /api/twilio/after-stream` | `<Connect action>`: hang up, dial or fallback once the stream ended |
 * | `POST /api/twilio/dial-action` | `<Dial action>`: a failed transfer hears `transferFailedMessage` |
 * | `POST /api/calls` | place an outbound call |
 * | `GET /api/calls`, `/api/calls/:callSid`, `/api/calls/:callSid/events` | call records, live feed |
 * | `POST /api/calls/:callSid/hangup` | hang up a call |
 * | `GET/POST/PATCH/DELETE /api/leads…`, `POST /api/leads/import` | leads |
 * | `GET /api/personas`, `/api/personas/:id/preview`, `/api/voices` | personas, previews, voices |
 * | `GET /api/softphone` | the browser's call socket (session cookie) → the same relay as a phone call |
 * | `GET/POST /login`, `POST /logout` | sign-in for the pages |
 * | `GET /calling`, `/leads`, `/calls`, `/calls/:callSid`, `/personas`, `/personas/:id`, `/web/…` | pages |
 * | `GET /metrics` | Prometheus metrics |
 * | `GET /healthz` | `ok` (200) or `draining` (503), and active calls |
 *
 * @module
 */

import type { CallHub, RelayCounters } from "./calls/call_events.ts";
import { watchNeverConnected } from "./calls/never_connected.ts";
import type { ParleyConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import type { PersonaRegistry } from "./personas/types.ts";
import { type CallRelay, startCallRelay } from "./relay/call_relay.ts";
import { type Prewarm, Prewarms } from "./relay/prewarm.ts";
import { createEngineChooser } from "./engines/registry.ts";
import { connectOpenAI, type UpstreamConnector } from "./engines/upstream_socket.ts";
import {
  connectStreamTwiml,
  DEFAULT_FALLBACK_MESSAGE,
  fallbackTwiml,
  fitParameters,
  MAX_PARAMETER_CHARS,
} from "./twilio/twiml.ts";
import { createStreamTokens, isCallSid, type StreamTokens } from "./twilio/stream_token.ts";
import { closeOnHugeFrames } from "./twilio/media_stream.ts";
import { readTwilioForm, refuseUnsignedTwilio, TwilioFormTooLargeError } from "./twilio/signature.ts";
import { jsonError, jsonResponse } from "./http/responses.ts";
import { createPlaceCallHandler } from "./api/place_call.ts";
import { createTwilioStatusHandler } from "./api/twilio_status.ts";
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
import { engineForModel, voiceProblem } from "./engines/voices.ts";
import type {
  AfterStreamDecisions,
  CallRecords,
  EventBus,
  Leads,
  SignInSessions,
  UsedStreamTokens,
} from "./store/ports.ts";

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
  /** The ledger of used stream tokens (shared by instances on one store). @default in memory */
  usedStreamTokens?: UsedStreamTokens;
  /** Where sign-in sessions are kept. @default in memory */
  signInSessions?: SignInSessions;
  /** Where a call's live feed (SSE) hears its events: the store's bus across instances. @default hub */
  feeds?: Pick<EventBus, "subscribe">;
  /** Close a session pre-warmed on the webhook that no stream claims within this many ms. @default 15000 */
  prewarmTtlMs?: number;
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
   * calls, and calls whose webhook was answered before, go on. Resolves when none is left.
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
  const relays = new Set<CallRelay>();
  const connectUpstream = options.connectUpstream ?? connectOpenAI;
  const engineFor = createEngineChooser(config);
  const publicHost = new URL(config.publicBaseUrl).host;
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
  const tokens = options.streamTokens ?? createStreamTokens({
    secret: config.twilioAuthToken,
    ...(options.usedStreamTokens === undefined ? {} : { used: options.usedStreamTokens }),
  });
  const prewarms = new Prewarms({
    log,
    setup: { personas, defaultPersona: config.defaultPersona, defaultModel: config.realtimeModel, engineFor },
    apiKey: config.openaiApiKey,
    connect: connectUpstream,
    ...(options.prewarmTtlMs === undefined ? {} : { ttlMs: options.prewarmTtlMs }),
  });
  const refusedCalls = { capacity: 0, draining: 0 };
  let refusedStreams = 0;
  let draining = false;
  /** Resolves `drain()` once no call is live or on its way. */
  let idleWaiters: (() => void)[] = [];
  // A pre-warmed session always has its token outstanding (15 s pre-warm < 60 s token): counted there.
  const inFlight = () => relays.size + tokens.outstanding();
  const checkIdle = () => {
    if (!draining || inFlight() > 0) return;
    for (const resolve of idleWaiters) resolve();
    idleWaiters = [];
  };

  const sessions = createSessions({
    apiToken: () => config.apiToken,
    publicBaseUrl: config.publicBaseUrl,
    ...(options.signInSessions === undefined ? {} : { store: options.signInSessions }),
  });
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
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  const twilioStatus = createTwilioStatusHandler({
    config,
    hub,
    log,
    // The answering-machine result reaches the instance running the call's relay (found by CallSid).
    onAnsweredBy: (callSid, answeredBy) => {
      relaysByCall.get(callSid)?.machineAnswered(answeredBy);
    },
  });
  const afterStreamRoutes = createAfterStreamRoutes({
    config,
    personas,
    hub,
    log,
    ...(options.afterStream === undefined ? {} : { store: options.afterStream }),
  });
  const records = options.store === undefined ? undefined : createCallRecordsHandler({
    store: options.store,
    hub: options.feeds ?? hub,
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
      draining,
      prewarms: { outcomes: prewarms.outcomes, waiting: prewarms.size },
    }),
  });

  /** Checks a Twilio signature; answers 403 (and logs why) when it fails. */
  const refuseUnsigned = (request: Request, params: Record<string, string>, websocket: boolean) =>
    refuseUnsignedTwilio(request, { ...signature, params, websocket, log });

  const voiceWebhook = async (request: Request): Promise<Response> => {
    let form: Record<string, string> = {};
    if (request.method === "POST") {
      try {
        form = await readTwilioForm(request);
      } catch (error) {
        if (error instanceof TwilioFormTooLargeError) return jsonError(413, error.message);
        throw error;
      }
    }
    const refused = refuseUnsigned(request, form, false);
    if (refused !== undefined) return refused;

    const query = Object.fromEntries(new URL(request.url).searchParams);
    // Twilio sends its parameters in the form (POST) or the query (GET).
    const callSid = request.method === "POST" ? form.CallSid : query.CallSid;
    if (!isCallSid(callSid)) {
      log.warnRateLimited(
        "voice-webhook-callsid",
        `Refused voice webhook: CallSid ${
          callSid === undefined ? "missing" : `"${callSid}"`
        } is not a CallSid (CA followed by 32 hex digits)`,
      );
      return jsonError(400, "Missing or malformed CallSid: expected CA followed by 32 hex digits");
    }
    // Inbound callers reach the number's webhook (no persona in its URL unless setup-number
    // --persona wrote one); outbound calls placed through /api/calls always name theirs.
    const fallbackPersona = form.Direction === "inbound" ? config.inboundPersona : config.defaultPersona;
    let personaId = query.persona ?? fallbackPersona;
    if (personas.get(personaId) === undefined) {
      log.warn(`Voice webhook asked for unknown persona "${personaId}": using "${fallbackPersona}"`);
      personaId = fallbackPersona;
    }
    if (query.voice !== undefined) {
      const problem = voiceProblem(query.voice, engineOf(personaId) ?? "realtime");
      if (problem !== undefined) return jsonError(400, `Parameter "voice": ${problem}`);
    }
    const { kept, dropped } = fitParameters({ ...query, persona: personaId });
    if (dropped.length > 0) {
      log.warn(
        `Dropped webhook parameters longer than Twilio allows (${MAX_PARAMETER_CHARS} characters): ${
          dropped.join(", ")
        }`,
      );
    }
    const fallbackMessage = personas.get(personaId)?.persona.fallbackMessage ?? DEFAULT_FALLBACK_MESSAGE;
    const full = draining ? "draining" : inFlight() >= config.maxConcurrentCalls ? "capacity" : undefined;
    if (full !== undefined) {
      refusedCalls[full]++;
      log.warnRateLimited(
        `voice-webhook-${full}`,
        `Refused call CallSid=${callSid} (${
          full === "draining"
            ? "the server is draining for a shutdown"
            : `MAX_CONCURRENT_CALLS=${config.maxConcurrentCalls} calls in progress`
        }): answered with the fallback message, no stream`,
      );
      return new Response(fallbackTwiml(fallbackMessage), {
        headers: { "content-type": "text/xml; charset=utf-8" },
      });
    }
    hub.emit({
      type: "call.webhook",
      at: Date.now(),
      callSid,
      persona: personaId,
      direction: form.Direction ?? "",
      from: form.From ?? "",
      to: form.To ?? "",
      parameters: kept,
    });
    const actionUrl = new URL(AFTER_STREAM_PATH, config.publicBaseUrl);
    actionUrl.searchParams.set("persona", personaId);
    const twiml = connectStreamTwiml({
      streamUrl: `wss://${publicHost}${MEDIA_STREAM_PATH}/${tokens.issue(callSid)}`,
      parameters: kept,
      actionUrl: actionUrl.toString(),
    });
    // The session opens while Twilio fetches this TwiML and connects: the greeting is ready at `start`.
    prewarms.openForWebhook(callSid, kept);
    return new Response(twiml, { headers: { "content-type": "text/xml; charset=utf-8" } });
  };

  const mediaStream = async (request: Request): Promise<Response> => {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return jsonError(
        426,
        `${MEDIA_STREAM_PATH} is Twilio's Media Stream WebSocket: connect with Upgrade: websocket`,
      );
    }
    // Signed over the full URL, token included; then the token: before anything opens upstream.
    const refused = refuseUnsigned(request, {}, true);
    if (refused !== undefined) return refused;
    const pathToken = new URL(request.url).pathname.slice(MEDIA_STREAM_PATH.length + 1);
    const claim = await tokens.claim(pathToken === "" ? undefined : pathToken);
    if (!claim.ok) {
      refusedStreams++;
      log.warnRateLimited(
        `stream-token-${claim.reason}`,
        `Refused media socket: stream token ${claim.reason}: ${STREAM_TOKEN_HELP[claim.reason]}`,
      );
      return jsonError(403, `Stream token ${claim.reason}`);
    }
    const { socket, response } = Deno.upgradeWebSocket(request);
    closeOnHugeFrames(socket, (size) =>
      log.warnRateLimited(
        "media-frame-too-large",
        `Closed the media socket of CallSid=${claim.callSid}: a frame of ${size} characters (Twilio's are under 64 KiB)`,
      ));
    // This instance's pre-warm for the call, if it answered the webhook (else a fresh session opens).
    startRelay(socket, claim.callSid, prewarms.claim(claim.callSid));
    return response;
  };

  /** Calls relayed here by CallSid, for hang-up. */
  const relaysByCall = new Map<string, CallRelay>();
  /**
   * Relays one media socket (Twilio's or the softphone's) for `callSid`, on the session pre-warmed for
   * it if any, and tracks it until it ends.
   */
  const startRelay = (socket: WebSocket, callSid: string, prewarm?: Prewarm): void => {
    const relay: CallRelay = startCallRelay(socket, {
      engineFor,
      defaultModel: config.realtimeModel,
      apiKey: config.openaiApiKey,
      personas,
      defaultPersona: config.defaultPersona,
      connectUpstream,
      log,
      onEvent: (event) => {
        if (event.type === "call.started") relaysByCall.set(event.callSid, relay);
        hub.emit(event);
      },
      counters,
      expectedCallSid: callSid,
      sessionRolloverMs: config.sessionRolloverMinutes * 60_000,
      ...(options.stallMs === undefined ? {} : { stallMs: options.stallMs }),
      ...(prewarm === undefined ? {} : { prewarm }),
      ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
    });
    relays.add(relay);
    relay.done.then(() => {
      relays.delete(relay);
      if (relaysByCall.get(callSid) === relay) relaysByCall.delete(callSid);
      checkIdle();
    });
  };

  const signIn = createSignInHandlers({ sessions, apiToken: () => config.apiToken });
  const pages = createPagesHandler(sessions);
  const leads = options.leads === undefined ? undefined : createLeadsHandler(options.leads);
  const personasRoute = createPersonasHandler({ personas, defaultModel: config.realtimeModel });
  const hangUp = createHangUpHandler({
    config,
    log,
    endStream: (callSid) => {
      const relay = relaysByCall.get(callSid);
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
    refuseNewCall: () =>
      draining
        ? "The server is draining for a shutdown: no new calls"
        : inFlight() >= config.maxConcurrentCalls
        ? `MAX_CONCURRENT_CALLS=${config.maxConcurrentCalls} calls are in progress: try again later`
        : undefined,
    startRelay,
  });

  /** Runs `handler` once the request is allowed (bearer token, or session cookie from this origin). */
  const guarded =
    (handler: (request: Request) => Response | Promise<Response>) => async (request: Request) => {
      const refused = await authorize(request);
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
        jsonResponse(draining ? 503 : 200, {
          status: draining ? "draining" : "ok",
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
        const text = `Unhandled error on ${request.method} ${new URL(request.url).pathname}: ${
          (error as Error).stack
        }`;
        for (const line of text.split("\n")) log.error(line); // the logger escapes line breaks
        return jsonError(500, "Internal server error");
      }
    }, { log }),
    drain() {
      draining = true;
      const idle = new Promise<void>((resolve) => idleWaiters.push(resolve));
      checkIdle();
      // A call whose webhook was answered but whose socket never comes: its token expires.
      const poll = setInterval(checkIdle, 1_000);
      return idle.finally(() => clearInterval(poll));
    },
    async shutdown() {
      shutdownSignal.abort();
      for (const relay of relays) relay.shutdown();
      await Promise.all([...relays].map((relay) => relay.done).concat(prewarms.close()));
      neverConnected.close();
      // Nothing is left to wait for: a drain in progress is over (its poll timer stops).
      for (const resolve of idleWaiters) resolve();
      idleWaiters = [];
      offMetrics();
      offStore?.();
      afterStreamRoutes.close();
    },
  };
}

/** What each stream-token refusal means, for the log line. */
const STREAM_TOKEN_HELP: Record<string, string> = {
  missing:
    `connect to the URL the voice webhook answers (${MEDIA_STREAM_PATH}/<token>), not to the bare path`,
  malformed: "the path is not a stream URL this server issued",
  forged: "the token was not issued with this TWILIO_AUTH_TOKEN",
  expired: "the socket came more than 60 s after the webhook",
  replayed: "the token was already used: a replayed handshake opens nothing",
};

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
