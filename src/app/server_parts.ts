/**
 * The steps `createParley` (`server.ts`) wires the server from, each building one group of parts
 * from the server's options: what listens to every call event, the recordings, the call intake (who
 * may start a call, the pre-warmed sessions, the relays), and the post-call analysis worker.
 *
 * @module
 */

import { Admission } from "../calls/admission.ts";
import { LiveRelays } from "../relay/live_relays.ts";
import type { FrameTap } from "../relay/frame_tap.ts";
import { folderSource, type RecordingSource } from "../recordings/serve_wav.ts";
import { bothTaps, recordingTap } from "../recordings/recording_tap.ts";
import { createRecordingLinks, type RecordingLinks } from "../recordings/recording_link.ts";
import { announceRecordings, type RecordingAnnouncements } from "../outcomes/webhooks/recording_ready.ts";
import { PREWARM_TTL_MS, Prewarms } from "../relay/prewarm.ts";
import { createEngineChooser } from "../engines/registry.ts";
import { connectOpenAI, type UpstreamConnector } from "../engines/upstream_socket.ts";
import { createStreamTokens, STREAM_TOKEN_TTL_MS, type StreamTokens } from "../twilio/stream_token.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { DEFAULT_PRICES } from "../engines/prices.ts";
import { AnalysisWorker } from "../analysis/worker.ts";
import { startWebhooks, type Webhooks } from "../outcomes/webhooks/webhooks.ts";
import { errorText, excerpt } from "../log.ts";
import { readWithin } from "../read_within.ts";
import { withLocalFallback } from "../store/used_tokens_fallback.ts";
import type { ParleyOptions } from "./server.ts";
import type { HandlerParts } from "./handler_parts.ts";

/** The hub's recorders: the metrics, the store and the webhooks, subscribed in that order. */
export interface Recorders {
  /** The webhooks, when the store keeps an outbox. */
  webhooks: Webhooks | undefined;
  /** Unsubscribes the three (the webhooks are closed apart, after the recordings' announcements). */
  off(): void;
}

/**
 * Subscribes what records every call event: the metrics, the store, then the webhooks (after the
 * store's listener, so the record a payload is built from holds the event).
 */
export function subscribeRecorders(options: ParleyOptions, metrics: Metrics): Recorders {
  const { config, hub } = options;
  const offMetrics = hub.subscribe(metrics.listener);
  const offStore = options.store === undefined ? undefined : hub.subscribe(options.store.listener);
  const webhooks = options.outbox === undefined ? undefined : startWebhooks({
    outbox: options.outbox,
    settings: config.webhook,
    calls: options.store,
    instance: config.instanceId,
    log: options.log,
    ...(options.webhookTiming === undefined ? {} : { timing: options.webhookTiming }),
  });
  const offWebhooks = webhooks === undefined ? undefined : hub.subscribe(webhooks.listener);
  return {
    webhooks,
    off() {
      offMetrics();
      offStore?.();
      offWebhooks?.();
    },
  };
}

/** The recordings' parts; all undefined but `links` and `ready` when calls are not recorded. */
export interface RecordingParts {
  /** Every observer of a call's audio: the given tap and the recorder. */
  tap: FrameTap | undefined;
  /** Where recordings are served from. */
  source: RecordingSource | undefined;
  /** Signed links (keyed by WEBHOOK_SECRET) the recording route's guard honours. */
  links: RecordingLinks;
  /** Sends `recording.ready` as recordings finish. */
  ready: RecordingAnnouncements;
}

/** Records the calls of personas with `record: true`, serves them, and announces each one finished. */
export function wireRecordings(options: ParleyOptions, webhooks: Webhooks | undefined): RecordingParts {
  const { config, personas, log, recordings } = options;
  const tap = bothTaps(options.tap, recordings && recordingTap(recordings, personas, log));
  const source = recordings && (options.recordingSource ?? folderSource(recordings));
  // recording.ready: a signed link (keyed by WEBHOOK_SECRET) the recording route's guard honours.
  const links = createRecordingLinks(config.webhook?.secret);
  const ready = announceRecordings({
    recordings,
    source,
    webhooks,
    links,
    publicBaseUrl: config.publicBaseUrl,
    log,
  });
  return { tap, source, links, ready };
}

/** What takes calls in, from the voice webhook to the relay. */
export interface CallIntake {
  /** Opens upstream sockets. */
  connectUpstream: UpstreamConnector;
  tokens: StreamTokens;
  prewarms: Prewarms;
  /** Who may start a call now (subscribed to the hub). */
  admission: Admission;
  relays: LiveRelays;
  /** Unsubscribes the admission and the pre-warms from the hub. */
  off(): void;
}

/**
 * The stream tokens, the sessions pre-warmed on the webhook (subscribed to the hub: a call that ends
 * closes its pre-warm), the admission (subscribed to the hub) and the relays, with `tap` observing
 * every call's audio.
 */
export function createCallIntake(options: ParleyOptions, tap: FrameTap | undefined): CallIntake {
  const { config, personas, log, hub } = options;
  const connectUpstream = options.connectUpstream ?? connectOpenAI;
  const engineFor = createEngineChooser(config.engineEndpoints);
  const shared = options.usedStreamTokens;
  const tokens = options.streamTokens ?? createStreamTokens({
    secret: config.twilioAuthToken,
    ...(shared === undefined ? {} : {
      used: withLocalFallback(shared, (error) =>
        log.warnRateLimited(
          "stream-token-ledger",
          `Stream tokens: cannot record a token's use in the database (${
            excerpt(errorText(error))
          }): checked on this instance only while it fails; calls go on`,
        )),
    }),
  });
  const prewarmTtlMs = options.prewarmTtlMs ?? PREWARM_TTL_MS;
  const prewarms = new Prewarms({
    log,
    setup: { personas, defaultPersona: config.defaultPersona, defaultModel: config.realtimeModel, engineFor },
    apiKey: config.openaiApiKey,
    connect: connectUpstream,
    ttlMs: prewarmTtlMs,
    onUnclaimedUsage: (event) => hub.emit(event),
  });
  const offPrewarms = hub.subscribe(prewarms.listener);
  const admission = createAdmission(options, prewarmTtlMs);
  const offAdmission = hub.subscribe(admission.listener);
  const relays = new LiveRelays(
    {
      engineFor,
      defaultModel: config.realtimeModel,
      apiKey: config.openaiApiKey,
      personas,
      defaultPersona: config.defaultPersona,
      connectUpstream,
      log,
      counters: options.counters,
      sessionRolloverMs: config.sessionRolloverMinutes * 60_000,
      ...(options.stallMs === undefined ? {} : { stallMs: options.stallMs }),
      ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
      ...(tap === undefined ? {} : { tap }),
    },
    hub,
    admission,
  );
  const off = () => {
    offAdmission();
    offPrewarms();
  };
  return { connectUpstream, tokens, prewarms, admission, relays, off };
}

/**
 * How long the voice webhook waits for the store to say whether a CallSid it does not remember was
 * started or ended, ms: the caller is ringing through it, and it is normally a few ms.
 */
export const SEEN_BEFORE_WAIT_MS = 1_000;

/**
 * The admission of calls under MAX_CONCURRENT_CALLS. With a store, it asks the store whether a
 * CallSid this instance no longer remembers was started or ended. A store that fails to answer (a
 * database restarting) does not fail the call: the webhook answers it as a new one, and says so.
 */
function createAdmission(options: ParleyOptions, prewarmTtlMs: number): Admission {
  const { store, log } = options;
  return new Admission({
    maxConcurrentCalls: options.config.maxConcurrentCalls,
    // A socket later than its pre-warm finds none and is rare: no slot or drain waits longer.
    connectWindowMs: prewarmTtlMs,
    answerTtlMs: STREAM_TOKEN_TTL_MS,
    ...(store === undefined ? {} : {
      seenBefore: async (callSid: string) => {
        try {
          const record = await readWithin(
            store.getCall(callSid),
            options.seenBeforeWaitMs ?? SEEN_BEFORE_WAIT_MS,
          );
          return record !== undefined && (record.startedAt !== null || record.endedAt !== null);
        } catch (error) {
          log.warnRateLimited(
            "webhook-seen-before",
            `[Twilio] Cannot read the call store for CallSid=${callSid} (${
              excerpt(errorText(error))
            }): answering it as a new call`,
          );
          return false;
        }
      },
    }),
  });
}

/** The post-call analysis worker, started, when the store keeps analyses; a failed start is logged. */
export function startAnalysis(options: ParleyOptions): AnalysisWorker | undefined {
  const { config, log, store } = options;
  if (options.analyses === undefined || store === undefined) return undefined;
  const analysis = new AnalysisWorker({
    jobs: options.analyses,
    calls: store,
    personas: options.personas,
    bus: options.hub,
    endpoint: { baseUrl: config.openaiBaseUrl, apiKey: config.openaiApiKey },
    defaultModel: config.analysisModel,
    instance: config.instanceId,
    prices: options.prices ?? DEFAULT_PRICES,
    log,
  });
  analysis.start().catch((error) => {
    log.error(`Analysis: could not start: ${errorText(error)}`);
  });
  return analysis;
}

/** The route handlers' optional parts that come as they are from the server's options (each only when given). */
export function optionalHandlerParts(options: ParleyOptions): Partial<HandlerParts> {
  return {
    ...(options.scenariosDir === undefined ? {} : { scenariosDir: options.scenariosDir }),
    ...(options.mediaSilenceMs === undefined ? {} : { mediaSilenceMs: options.mediaSilenceMs }),
    ...(options.store === undefined ? {} : { store: options.store }),
    ...(options.afterStream === undefined ? {} : { afterStream: options.afterStream }),
    ...(options.afterStreamWaitMs === undefined ? {} : { afterStreamWaitMs: options.afterStreamWaitMs }),
    ...(options.leads === undefined ? {} : { leads: options.leads }),
    ...(options.analyses === undefined ? {} : { analyses: options.analyses }),
    ...(options.campaigns === undefined ? {} : { campaigns: options.campaigns }),
    ...(options.feeds === undefined ? {} : { feeds: options.feeds }),
    ...(options.control === undefined ? {} : { control: options.control }),
    ...(options.cluster === undefined ? {} : { cluster: options.cluster }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ...(options.listenerHealth === undefined ? {} : { listenerHealth: options.listenerHealth }),
  };
}
