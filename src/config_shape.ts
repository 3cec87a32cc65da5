/**
 * The shape of Parley's resolved configuration: every field filled, defaults applied (what the user
 * gives is the environment, read by `config_env.ts`).
 *
 * @module
 */

import type { S3Settings } from "./recordings_config.ts";
import type { IpRange } from "./http/ip_address.ts";
import type { EngineEndpoints } from "./engines/registry.ts";
import type { WebhookSettings } from "./webhook_settings.ts";

/** The resolved configuration: every field filled, defaults applied. */
export interface ParleyConfig {
  /** TCP port the server listens on. @default 4000 */
  port: number;
  /** Address the server listens on: `0.0.0.0` every IPv4 interface, `127.0.0.1` this machine only. @default "0.0.0.0" */
  host: string;
  /**
   * Public https origin Twilio reaches (the ngrok URL), without trailing slash. Undefined until
   * resolved: `main.ts` asks the local ngrok agent when it is unset.
   */
  publicBaseUrl: string | undefined;
  /**
   * This instance's own https origin, for load balancers that route by host name: the stream URL the
   * voice webhook answers names it, so the media socket reaches the instance that pre-warmed. @default publicBaseUrl
   */
  publicInstanceUrl?: string;
  /** Bearer key for the OpenAI Realtime API. */
  openaiApiKey: string;
  /** Realtime model used when a persona names none. @default "gpt-realtime-2.1" */
  realtimeModel: string;
  /** Each engine's WebSocket endpoint by engine id (its definition names the variable and default). */
  engineEndpoints: EngineEndpoints;
  /** Realtime WebSocket endpoint (`engineEndpoints.realtime`); the model goes in its `model` query parameter. */
  realtimeUrl: string;
  /** GPT-Live WebSocket endpoint (`engineEndpoints.live`), without query parameters. */
  liveUrl: string;
  /** Twilio account SID (`AC…`), for the REST API. */
  twilioAccountSid: string | undefined;
  /** Twilio auth token: signs webhooks and authenticates REST calls. */
  twilioAuthToken: string | undefined;
  /** The Twilio number outbound calls come from, E.164. */
  twilioPhoneNumber: string | undefined;
  /** Base URL of Twilio's REST API. @default "https://api.twilio.com" */
  twilioApiBaseUrl: string;
  /** Whether Twilio signatures are checked. Off only for local experiments. @default true */
  twilioSignatureCheck: boolean;
  /** Bearer token for Parley's own HTTP API (`/api/calls`, records, metrics). */
  apiToken: string | undefined;
  /** Folder whose `*.ts` files are personas. @default "./personas" */
  personasDir: string;
  /** Persona of outbound calls (`POST /api/calls`) that name none. @default "alex" */
  defaultPersona: string;
  /** Persona that answers inbound calls whose webhook URL names none. @default "receptionist" */
  inboundPersona: string;
  /** Folder for the call database. @default "./data" */
  dataDir: string;
  /**
   * `postgres://…` (or `postgresql://…`): the Postgres database several instances share; undefined
   * for SQLite in `dataDir`.
   */
  databaseUrl: string | undefined;
  /**
   * This instance's name in logs and call records: the startup clean-up closes only its own calls.
   * @default the host name (SQLite: a restart finds its own crashed calls); with `databaseUrl`, the
   * host name plus a random suffix (two instances on one host never share a name)
   */
  instanceId: string;
  /**
   * The next start has the same {@linkcode instanceId}: SQLite's host name, or `INSTANCE_ID` set. False
   * for the random default with `databaseUrl`: a restart is a new instance, which cannot take up this
   * one's ringing calls (a `deno task dev` restart then ends them rather than leaving them open).
   */
  instanceIdKept: boolean;
  /**
   * `TRUSTED_PROXIES`: proxies besides loopback (always trusted) whose `X-Forwarded-For` names the
   * client, for the guess throttle and log lines. @default none
   */
  trustedProxies: IpRange[];
  /** Serve `/metrics` without a token. @default false */
  metricsPublic: boolean;
  /** Price overrides per model, JSON (see README), or undefined for the built-in table. */
  pricesJson: string | undefined;
  /** The local ngrok agent API, asked for the tunnel URL when `PUBLIC_BASE_URL` is unset. */
  ngrokApiUrl: string;
  /** Calls relayed (or on their way) at once; beyond, the webhook answers the fallback. @default 100 */
  maxConcurrentCalls: number;
  /**
   * Slots of MAX_CONCURRENT_CALLS campaigns leave free for inbound (and other) calls: the dialer dials
   * only while fewer than `maxConcurrentCalls - inboundReserve` calls are in flight. @default 10% of it
   */
  inboundReserve: number;
  /** On SIGTERM/SIGINT, how long live calls may go on before they are ended, seconds. @default 600 */
  drainTimeoutS: number;
  /** With Postgres: a peer without a heartbeat this long has its open calls closed, seconds. @default 30 */
  instanceTimeoutS: number;
  /** `OTEL_DENO=true`: Deno's OpenTelemetry is on, so calls are traced (`src/telemetry/call_traces.ts`). */
  tracing: boolean;
  /**
   * An upstream session this old is replaced, with the conversation so far, at the call's next quiet
   * moment (before OpenAI's 60-minute session cap), minutes. @default 55
   */
  sessionRolloverMinutes: number;
  /** Where signed call events go (`WEBHOOK_URL`, `WEBHOOK_SECRET`), or undefined: webhooks off. */
  webhook: WebhookSettings | undefined;
  /** Folder of call recordings (personas with `record: true`). @default DATA_DIR/recordings */
  recordingsDir: string;
  /** Recordings older than this many days are deleted (at startup, then daily); undefined keeps them. */
  recordingRetentionDays: number | undefined;
  /** The bucket recordings are kept in (`RECORDINGS_S3_URL` and `AWS_*`), or undefined: the folder only. */
  recordingsS3: S3Settings | undefined;
  /** OpenAI's REST API (post-call analyses' and the rehearsal judge's Responses API). @default "https://api.openai.com/v1" */
  openaiBaseUrl: string;
  /** The model judging rehearsal criteria. @default "gpt-5-mini" */
  judgeModel: string;
  /** The Responses model of post-call analyses whose persona names none. @default "gpt-5-mini" */
  analysisModel: string;
}
