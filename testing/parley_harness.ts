/**
 * Runs a real Parley server on 127.0.0.1, port 0, wired to a {@linkcode FakeRealtimeServer} and a
 * {@linkcode FakeLiveServer} (GPT-Live), with its log lines and call events captured. Twilio requests
 * are signed with npm:twilio's own helper.
 *
 * @module
 */

import "./temp_root.ts";
import type { DialerParts } from "../src/app/handler_parts.ts";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { type CallEvent } from "../src/calls/call_events.ts";
import { createRelayCounters, type RelayCounters } from "../src/calls/relay_counters.ts";
import { CallHub } from "../src/calls/call_hub.ts";
import { configSecrets, loadConfig, type ParleyConfig } from "../src/config.ts";
import { createLogger, type LogLevel } from "../src/log.ts";
import { createPersonaRegistry, loadPersonas } from "../src/personas/loader.ts";
import { createParley, type Parley, type ServerConfig, VOICE_WEBHOOK_PATH } from "../src/app/server.ts";
import type { CallStore } from "../src/store/sqlite/call_store.ts";
import { type FakeLiveOptions, FakeLiveServer } from "./fake_live.ts";
import type { LeadStore } from "../src/store/sqlite/leads.ts";
import type { WebhookOutbox } from "../src/store/webhook_outbox.ts";
import type { WebhookTiming } from "../src/outcomes/webhooks/webhooks.ts";
import type { FrameTap } from "../src/relay/frame_tap.ts";
import type { AfterStreamDecisions, AnalysisJobs, Store } from "../src/store/ports.ts";
import type { UsedStreamTokens } from "../src/twilio/stream_token.ts";
import type { RecordingsDir } from "../src/recordings/recordings_dir.ts";
import type { RecordingSource } from "../src/recordings/serve_wav.ts";
import { type FakeRealtimeOptions, FakeRealtimeServer } from "./fake_realtime.ts";
import type { FakeTwilioCall } from "./fake_twilio.ts";
import {
  connectStream as connectTwilioStream,
  newCallSid,
  postVoiceWebhook,
  type TwilioTarget,
} from "./twilio_webhook.ts";

export { newCallSid };

/** The public URL the test server pretends Twilio reaches. */
export const TEST_PUBLIC_BASE_URL = "https://parley.test";
/** The Twilio auth token the test server checks signatures with. */
export const TEST_AUTH_TOKEN = "test-auth-token-0123456789";
/** The OpenAI key the test server sends upstream. */
export const TEST_OPENAI_KEY = "sk-test-key-abcdefghijklmnop";
/**
 * The tests' own personas (`tester` answers calls, `quiet` is the inbound persona where a test sets
 * INBOUND_PERSONA=quiet, `alex` is the calling page's sales caller): never the user's `personas/`, which they edit and add to.
 */
export const TEST_PERSONAS_DIR = new URL("../tests/testdata/personas/", import.meta.url).pathname;

/** Options of {@linkcode startTestParley}. */
export interface TestParleyOptions {
  /** @default TEST_PERSONAS_DIR */
  personasDir?: string;
  /** Extra environment (as the user would set it). */
  env?: Record<string, string>;
  /** Replace a session that owes an answer and stays silent this long, ms. */
  stallMs?: number;
  /** Close sockets without `start` after this long. */
  startTimeoutMs?: number;
  /** Close a media socket that sends no frame for this long, ms. */
  mediaSilenceMs?: number;
  /** A call store to wire in. */
  store?: CallStore;
  /** Twilio REST fetch. */
  fetch?: typeof fetch;
  /** End records whose stream has not started this long after the webhook. */
  streamConnectTimeoutMs?: number;
  /** What the GPT-Live fake's sessions do. */
  live?: FakeLiveOptions;
  /** What the Realtime fake does. */
  realtime?: FakeRealtimeOptions;
  /** Close pre-warmed sessions no stream claims after this long. */
  prewarmTtlMs?: number;
  /** The `<Connect action>`'s wait for a pending or unreadable decision, ms. @default 3000 */
  afterStreamWaitMs?: number;
  /** The voice webhook's wait for the store's word on a CallSid it does not remember, ms. @default 1000 */
  seenBeforeWaitMs?: number;
  /** The ledger of used stream tokens shared by instances (as a database keeps it). @default none */
  usedStreamTokens?: UsedStreamTokens;
  /** Where the `<Connect action>` reads decisions. @default `store` */
  afterStream?: AfterStreamDecisions;
  /** A leads table to wire in. */
  leads?: LeadStore;
  /** Post-call analyses to wire in (with `store`): personas with `analysis` get their outcome. */
  analyses?: AnalysisJobs;
  /** A webhook outbox to wire in (webhooks are sent when `env` sets WEBHOOK_URL and WEBHOOK_SECRET). */
  outbox?: WebhookOutbox;
  /** The webhook worker's clock and delays. */
  webhookTiming?: WebhookTiming;
  /** The folder of scenario files (the Rehearse button). */
  scenariosDir?: string;
  /** Observers of every call's audio. */
  tap?: FrameTap;
  /** Campaigns and the do-not-call list to wire in (with `leads`): the dialer runs over them. */
  campaigns?: DialerParts;
  /** A shared store (Postgres) to wire in whole: records, leads, sessions, tokens, feeds, control. */
  shared?: Store;
  /** Where personas with `record: true` record their calls. */
  recordings?: RecordingsDir;
  /** Where recordings are served from (a bucket). @default the `recordings` folder */
  recordingSource?: RecordingSource;
}

/** A running test server. */
export interface TestParley {
  origin: string;
  config: ServerConfig;
  upstream: FakeRealtimeServer;
  /** The GPT-Live fake (personas whose model is `gpt-live-*`). */
  live: FakeLiveServer;
  parley: Parley;
  counters: RelayCounters;
  hub: CallHub;
  logs: { level: LogLevel; line: string }[];
  events: CallEvent[];
  /** Resolves with the first log line (past or future) matching `pattern`. */
  waitForLog(pattern: RegExp): Promise<string>;
  /** Resolves with the first event (past or future) of `type` matching `match`. */
  waitForEvent<T extends CallEvent["type"]>(
    type: T,
    match?: (e: Extract<CallEvent, { type: T }>) => boolean,
  ): Promise<Extract<CallEvent, { type: T }>>;
  /**
   * Does what Twilio does for a new call: posts the signed voice webhook, opens the signed media
   * socket at the stream URL it answers (with its per-call token), and sends `start` with these
   * custom parameters.
   */
  startCall(parameters?: Record<string, string>): Promise<FakeTwilioCall>;
  /**
   * Posts the signed voice webhook for `callSid` (with `query`, URL-encoded, in its URL) and returns
   * the stream URL its TwiML names.
   */
  answerWebhook(callSid: string, query?: string): Promise<string>;
  /** Opens the media socket at a `wss://parley.test/…` stream URL, signed as Twilio would. */
  connectStream(streamUrl: string, callSid?: string): Promise<FakeTwilioCall>;
  /** Posts a signed Twilio form to `pathAndQuery` (e.g. the `<Connect action>` request). */
  postTwilio(pathAndQuery: string, params: Record<string, string>): Promise<Response>;
  /** Headers Twilio would send for `publicUrl` with these form parameters. */
  twilioHeaders(publicUrl: string, params?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

/** Starts Parley against a fresh fake Realtime server. */
export async function startTestParley(options: TestParleyOptions = {}): Promise<TestParley> {
  const upstream = FakeRealtimeServer.start(options.realtime);
  const live = FakeLiveServer.start(options.live);
  const config: ParleyConfig = loadConfig({
    PUBLIC_BASE_URL: TEST_PUBLIC_BASE_URL,
    OPENAI_API_KEY: TEST_OPENAI_KEY,
    OPENAI_REALTIME_URL: upstream.url,
    OPENAI_LIVE_URL: live.url,
    TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN,
    PERSONAS_DIR: options.personasDir ?? TEST_PERSONAS_DIR,
    DEFAULT_PERSONA: "tester",
    ...options.env,
    // The webhooks tests post are calls Parley did not place, so INBOUND_PERSONA answers them: the
    // default persona unless a test names another (`quiet` in the persona-choice tests).
    INBOUND_PERSONA: options.env?.INBOUND_PERSONA ?? options.env?.DEFAULT_PERSONA ?? "tester",
  });
  const serverConfig = { ...config, publicBaseUrl: config.publicBaseUrl! };
  const personas = createPersonaRegistry(await loadPersonas(config.personasDir));
  const logs: { level: LogLevel; line: string }[] = [];
  const logWaiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const log = createLogger({
    debug: true,
    secrets: configSecrets(config),
    sink: (level, line) => {
      logs.push({ level, line });
      for (const waiter of logWaiters.filter((w) => w.pattern.test(line))) {
        logWaiters.splice(logWaiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    },
  });
  const hub = new CallHub();
  const events: CallEvent[] = [];
  const eventWaiters: { match: (e: CallEvent) => boolean; resolve: (e: CallEvent) => void }[] = [];
  hub.subscribe((event) => {
    events.push(event);
    for (const waiter of eventWaiters.filter((w) => w.match(event))) {
      eventWaiters.splice(eventWaiters.indexOf(waiter), 1);
      waiter.resolve(event);
    }
  });
  const counters = createRelayCounters();
  let selfOrigin = "";
  const parley = createParley({
    config: serverConfig,
    personas,
    log,
    hub,
    counters,
    ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
    ...(options.mediaSilenceMs === undefined ? {} : { mediaSilenceMs: options.mediaSilenceMs }),
    ...(options.stallMs === undefined ? {} : { stallMs: options.stallMs }),
    ...(options.store === undefined ? {} : { store: options.store, afterStream: options.store }),
    ...(options.afterStream === undefined ? {} : { afterStream: options.afterStream }),
    ...(options.afterStreamWaitMs === undefined ? {} : { afterStreamWaitMs: options.afterStreamWaitMs }),
    ...(options.seenBeforeWaitMs === undefined ? {} : { seenBeforeWaitMs: options.seenBeforeWaitMs }),
    ...(options.usedStreamTokens === undefined ? {} : { usedStreamTokens: options.usedStreamTokens }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ...(options.streamConnectTimeoutMs === undefined
      ? {}
      : { streamConnectTimeoutMs: options.streamConnectTimeoutMs }),
    ...(options.prewarmTtlMs === undefined ? {} : { prewarmTtlMs: options.prewarmTtlMs }),
    ...(options.leads === undefined ? {} : { leads: options.leads }),
    ...(options.analyses === undefined ? {} : { analyses: options.analyses }),
    ...(options.scenariosDir === undefined ? {} : { scenariosDir: options.scenariosDir }),
    selfOrigin: () => selfOrigin,
    ...(options.tap === undefined ? {} : { tap: options.tap }),
    ...(options.campaigns === undefined ? {} : { campaigns: options.campaigns }),
    ...(options.shared === undefined ? {} : {
      store: options.shared.calls,
      afterStream: options.shared.afterStream,
      leads: options.shared.leads,
      signInSessions: options.shared.sessions,
      usedStreamTokens: options.shared.usedStreamTokens,
      outbox: options.shared.outbox,
      ...(options.shared.bus === undefined ? {} : { feeds: options.shared.bus }),
      ...(options.shared.control === undefined ? {} : { control: options.shared.control }),
      ...(options.shared.cluster === undefined ? {} : { cluster: options.shared.cluster }),
      ...(options.shared.analyses === undefined ? {} : { analyses: options.shared.analyses }),
    }),
    ...(options.outbox === undefined ? {} : { outbox: options.outbox }),
    ...(options.webhookTiming === undefined ? {} : { webhookTiming: options.webhookTiming }),
    ...(options.recordings === undefined ? {} : { recordings: options.recordings }),
    ...(options.recordingSource === undefined ? {} : { recordingSource: options.recordingSource }),
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, parley.handler);
  const origin = `http://127.0.0.1:${server.addr.port}`;
  selfOrigin = origin;

  const twilioHeaders = (publicUrl: string, params: Record<string, string> = {}) => ({
    "X-Twilio-Signature": getExpectedTwilioSignature(TEST_AUTH_TOKEN, publicUrl, params),
  });

  const target: TwilioTarget = {
    port: server.addr.port,
    authToken: TEST_AUTH_TOKEN,
    publicBaseUrl: TEST_PUBLIC_BASE_URL,
  };
  const answerWebhook = async (callSid: string, query = "") => {
    const path = query === "" ? VOICE_WEBHOOK_PATH : `${VOICE_WEBHOOK_PATH}?${query}`;
    const { status, twiml, streamUrl } = await postVoiceWebhook(target, callSid, path);
    if (streamUrl === undefined) {
      throw new Error(`The voice webhook answered no stream (${status}): ${twiml}`);
    }
    return streamUrl;
  };
  const connectStream = (streamUrl: string, callSid?: string) =>
    connectTwilioStream(target, streamUrl, callSid);

  return {
    origin,
    config: serverConfig,
    upstream,
    live,
    parley,
    counters,
    hub,
    logs,
    events,
    waitForLog(pattern) {
      const found = logs.find((l) => pattern.test(l.line));
      if (found !== undefined) return Promise.resolve(found.line);
      return new Promise((resolve) => logWaiters.push({ pattern, resolve }));
    },
    waitForEvent(type, match = () => true) {
      // deno-lint-ignore no-explicit-any
      const full = (e: CallEvent) => e.type === type && match(e as any);
      const found = events.find(full);
      // deno-lint-ignore no-explicit-any
      if (found !== undefined) return Promise.resolve(found as any);
      // deno-lint-ignore no-explicit-any
      return new Promise((resolve) => eventWaiters.push({ match: full, resolve: resolve as any }));
    },
    answerWebhook,
    connectStream,
    async startCall(parameters = {}) {
      const callSid = newCallSid();
      // The webhook URL carries the call's parameters, as /api/calls writes it: the session
      // pre-warmed on the webhook is then configured as the stream's `start` will be.
      const query = new URLSearchParams(parameters).toString();
      const call = await connectStream(await answerWebhook(callSid, query), callSid);
      call.start(parameters);
      return call;
    },
    twilioHeaders,
    postTwilio(pathAndQuery, params) {
      return fetch(`${origin}${pathAndQuery}`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          ...twilioHeaders(`${TEST_PUBLIC_BASE_URL}${pathAndQuery}`, params),
        },
        body: new URLSearchParams(params),
      });
    },
    async close() {
      await parley.shutdown();
      await server.shutdown();
      await upstream.close();
      await live.close();
    },
  };
}
