/**
 * Parley's HTTP surface: one request handler built from its collaborators, so tests and the
 * benchmark pass fakes and nothing patches globals.
 *
 * | route | what |
 * | --- | --- |
 * | `POST /api/twilio/voice-realtime` | Twilio's voice webhook → `<Connect><Stream>` TwiML with a per-call stream token (`?persona=`, else INBOUND_PERSONA for inbound calls, DEFAULT_PERSONA otherwise) |
 * | `GET /twilio-realtime-voice/<token>` | Twilio's Media Stream socket → one relay per call (token from the webhook) |
 * | `POST /api/twilio/status` | Twilio's call progress callback |
 * | `POST /api/calls` | place an outbound call |
 * | `GET /api/calls`, `/api/calls/:callSid`, `/api/calls/:callSid/events` | call records, live feed |
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
import { Prewarms } from "./relay/prewarm.ts";
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
import { readTwilioForm, refuseUnsignedTwilio, TwilioFormTooLargeError } from "./twilio/signature.ts";
import { jsonError, jsonResponse } from "./http/responses.ts";
import { createPlaceCallHandler } from "./api/place_call.ts";
import { createTwilioStatusHandler } from "./api/twilio_status.ts";
import type { CallStore } from "./store/call_store.ts";
import { createCallRecordsHandler } from "./api/call_records.ts";
import { createMetrics, type Metrics } from "./metrics/metrics.ts";
import { createMetricsHandler } from "./api/metrics_route.ts";
import type { PriceTable } from "./store/prices.ts";
import { MEDIA_STREAM_PATH, STATUS_CALLBACK_PATH, VOICE_WEBHOOK_PATH } from "./paths.ts";

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
  /** Opens upstream sockets. @default connectOpenAI (npm:ws, Nagle off) */
  connectUpstream?: UpstreamConnector;
  /** Used for Twilio's REST API. @default globalThis.fetch */
  fetch?: typeof fetch;
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
}

/** A built server: its handler, and what `main.ts` needs to run and stop it. */
export interface Parley {
  /** Serves every route. */
  handler: (request: Request) => Promise<Response>;
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
  const tokens = options.streamTokens ?? createStreamTokens({ secret: config.twilioAuthToken });
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

  const placeCall = createPlaceCallHandler({
    config,
    hub,
    log,
    personaIds: () => personas.ids(),
    defaultPersona: config.defaultPersona,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  const twilioStatus = createTwilioStatusHandler({ config, hub, log });
  const records = options.store === undefined ? undefined : createCallRecordsHandler({
    store: options.store,
    hub,
    apiToken: config.apiToken,
    signal: shutdownSignal.signal,
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
    const twiml = connectStreamTwiml({
      streamUrl: `wss://${publicHost}${MEDIA_STREAM_PATH}/${tokens.issue(callSid)}`,
      parameters: kept,
      fallbackMessage,
    });
    // The session opens while Twilio fetches this TwiML and connects: the greeting is ready at `start`.
    prewarms.openForWebhook(callSid, kept);
    return new Response(twiml, { headers: { "content-type": "text/xml; charset=utf-8" } });
  };

  const mediaStream = (request: Request): Response => {
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
    const claim = tokens.claim(pathToken === "" ? undefined : pathToken);
    if (!claim.ok) {
      refusedStreams++;
      log.warnRateLimited(
        `stream-token-${claim.reason}`,
        `Refused media socket: stream token ${claim.reason}: ${STREAM_TOKEN_HELP[claim.reason]}`,
      );
      return jsonError(403, `Stream token ${claim.reason}`);
    }
    const { socket, response } = Deno.upgradeWebSocket(request);
    const prewarm = prewarms.claim(claim.callSid);
    const relay = startCallRelay(socket, {
      engineFor,
      defaultModel: config.realtimeModel,
      apiKey: config.openaiApiKey,
      personas,
      defaultPersona: config.defaultPersona,
      connectUpstream,
      log,
      onEvent: (event) => hub.emit(event),
      counters,
      expectedCallSid: claim.callSid,
      ...(prewarm === undefined ? {} : { prewarm }),
      ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
    });
    relays.add(relay);
    relay.done.then(() => {
      relays.delete(relay);
      checkIdle();
    });
    return response;
  };

  const route = async (request: Request): Promise<Response> => {
    const { pathname } = new URL(request.url);
    const method = request.method;
    if (pathname === MEDIA_STREAM_PATH || pathname.startsWith(`${MEDIA_STREAM_PATH}/`)) {
      return only(method, ["GET"]) ?? mediaStream(request);
    }
    if (pathname === VOICE_WEBHOOK_PATH) return only(method, ["POST", "GET"]) ?? await voiceWebhook(request);
    if (pathname === STATUS_CALLBACK_PATH) return only(method, ["POST"]) ?? await twilioStatus(request);
    if (pathname === "/healthz") {
      // 503 while draining: a load balancer stops sending calls here, the calls in progress go on.
      return only(method, ["GET"]) ??
        jsonResponse(draining ? 503 : 200, {
          status: draining ? "draining" : "ok",
          activeCalls: relays.size,
        });
    }
    if (pathname === "/metrics") return only(method, ["GET"]) ?? metricsRoute(request);
    if (pathname === "/api/calls" && method === "POST") return await placeCall(request);
    if (pathname === "/api/calls" || pathname.startsWith("/api/calls/")) {
      if (method !== "GET") return jsonError(405, `${method} is not allowed on ${pathname}`);
      if (records === undefined) return jsonError(503, "Call records are not kept by this server");
      return await records(request);
    }
    return jsonError(404, `No route for ${method} ${pathname}`);
  };

  return {
    metrics,
    activeCalls: () => relays.size,
    handler: async (request) => {
      try {
        return await route(request);
      } catch (error) {
        const text = `Unhandled error on ${request.method} ${new URL(request.url).pathname}: ${
          (error as Error).stack
        }`;
        for (const line of text.split("\n")) log.error(line); // the logger escapes line breaks
        return jsonError(500, "Internal server error");
      }
    },
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

function only(method: string, allowed: string[]): Response | undefined {
  if (allowed.includes(method)) return undefined;
  const response = jsonError(405, `Method ${method} is not allowed here: use ${allowed.join(" or ")}`);
  response.headers.set("allow", allowed.join(", "));
  return response;
}
