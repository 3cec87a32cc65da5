/**
 * Parley's configuration, read from the environment once at startup.
 *
 * Every problem is collected and reported in one {@linkcode ConfigError}, each line naming the
 * variable, so a user fixes `.env` in one pass instead of one restart per mistake.
 *
 * @module
 */

import { join } from "node:path";
import { parseRecordingsS3, type S3Settings } from "./recordings_config.ts";
import { parsePriceOverrides, PriceConfigError } from "./engines/prices.ts";
import { ENGINE_REGISTRY, type EngineEndpoints, modelProblem } from "./engines/registry.ts";
import {
  DEFAULT_HOST,
  isE164,
  parseCount,
  parseHost,
  parseMinutes,
  parsePersonaId,
  parsePort,
  parsePublicBaseUrl,
  parseRetentionDays,
  parseSwitch,
  tryUrl,
} from "./config_values.ts";
import { parseWebhookSettings, type WebhookSettings } from "./webhook_settings.ts";

export { DEFAULT_HOST, isE164 };

/** Every environment variable Parley reads; `deno.json` grants `--allow-env` for exactly these. */
export const ENV_VARIABLES = [
  "PORT",
  "HOST",
  "PUBLIC_BASE_URL",
  "PUBLIC_INSTANCE_URL",
  "OPENAI_API_KEY",
  "OPENAI_REALTIME_MODEL",
  "OPENAI_REALTIME_URL",
  "OPENAI_LIVE_URL",
  "TWILIO_ACCOUNT_SID",
  "TWILIO_AUTH_TOKEN",
  "TWILIO_PHONE_NUMBER",
  "TWILIO_API_BASE_URL",
  "TWILIO_SIGNATURE_CHECK",
  "API_TOKEN",
  "PERSONAS_DIR",
  "DEFAULT_PERSONA",
  "INBOUND_PERSONA",
  "DATA_DIR",
  "METRICS_PUBLIC",
  "PRICES_JSON",
  "NGROK_API_URL",
  "MAX_CONCURRENT_CALLS",
  "INBOUND_RESERVE",
  "DRAIN_TIMEOUT_S",
  "SESSION_ROLLOVER_MINUTES",
  "OPENAI_BASE_URL",
  "OPENAI_ANALYSIS_MODEL",
  "OPENAI_JUDGE_MODEL",
  "INSTANCE_ID",
  "WEBHOOK_URL",
  "WEBHOOK_SECRET",
  "DATABASE_URL",
  "INSTANCE_TIMEOUT_S",
  "OTEL_DENO",
  "RECORDINGS_DIR",
  "RECORDING_RETENTION_DAYS",
  "RECORDINGS_S3_URL",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_REGION",
] as const;

/**
 * The standard Postgres variables the driver (`npm:postgres`) still reads with `DATABASE_URL` set:
 * what the URL leaves out (host, port, user, password, database) and two it always looks at.
 * Granted by the server tasks' `--allow-env` beside {@linkcode ENV_VARIABLES}.
 */
export const DRIVER_ENV_VARIABLES = [
  "PGHOST",
  "PGPORT",
  "PGUSER",
  "PGUSERNAME",
  "PGPASSWORD",
  "PGDATABASE",
  "PGAPPNAME",
  "PGTARGETSESSIONATTRS",
] as const;

/** Name of one variable Parley reads. */
export type EnvVariable = typeof ENV_VARIABLES[number];

/** The environment as Parley sees it: a lookup by variable name. */
export type Env = Partial<Record<EnvVariable, string>>;

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

/** Raised by {@linkcode loadConfig}; `problems` holds one line per bad variable. */
export class ConfigError extends Error {
  /** Each problem, naming its variable. */
  readonly problems: string[];
  /** Builds the error from its problem lines. */
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** Default Realtime model. */
export const DEFAULT_REALTIME_MODEL = "gpt-realtime-2.1";
/** Responses model of post-call analyses when OPENAI_ANALYSIS_MODEL is unset. */
export const DEFAULT_ANALYSIS_MODEL = "gpt-5-mini";
/** Persona of outbound calls when DEFAULT_PERSONA is unset. */
export const DEFAULT_OUTBOUND_PERSONA = "alex";
/** Persona of inbound calls when INBOUND_PERSONA is unset. */
export const DEFAULT_INBOUND_PERSONA = "receptionist";

/**
 * The example values `.env.example` ships with: a `.env` copied from it and not yet edited starts
 * cleanly otherwise, and the first call fails with a 401. `tests/config_test.ts` checks that every
 * value `.env.example` sets is listed here.
 */
export const EXAMPLE_PLACEHOLDERS: Partial<Record<EnvVariable, string>> = {
  OPENAI_API_KEY: "sk-...",
  TWILIO_ACCOUNT_SID: "AC00000000000000000000000000000000",
  TWILIO_PHONE_NUMBER: "+14155550100",
  PUBLIC_BASE_URL: "https://abc123.ngrok-free.app",
};

/**
 * Reads and checks the configuration from `env`.
 *
 * @example
 * ```ts
 * const config = loadConfig(Deno.env.toObject());
 * ```
 * @throws {ConfigError} listing every bad or missing variable.
 */
export function loadConfig(env: Env): ParleyConfig {
  const { config, problems } = checkConfig(env);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * Like {@linkcode loadConfig}, but returns the problems instead of throwing, with a best-effort
 * configuration (defaults in place of bad values), so startup can go on checking the personas and
 * the data folder and report everything in one message.
 */
export function checkConfig(env: Env): { config: ParleyConfig; problems: string[] } {
  const problems: string[] = examplePlaceholderProblems(env);
  const text = (name: EnvVariable): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };

  const port = parsePort(text("PORT"), problems);
  const host = parseHost(text("HOST"), problems);

  const publicBaseUrl = parsePublicBaseUrl(text("PUBLIC_BASE_URL"), problems);
  const publicInstanceUrl = parsePublicBaseUrl(text("PUBLIC_INSTANCE_URL"), problems, "PUBLIC_INSTANCE_URL");

  const openaiApiKey = text("OPENAI_API_KEY");
  if (openaiApiKey === undefined) {
    problems.push("OPENAI_API_KEY: not set: put your OpenAI API key (sk-…) in .env");
  }

  const { endpoints: engineEndpoints, problems: endpointProblems } = ENGINE_REGISTRY.readEndpoints((name) =>
    // Each engine's variable is listed in ENV_VARIABLES (tests/config_test.ts checks it).
    text(name as EnvVariable)
  );
  problems.push(...endpointProblems);
  const realtimeUrl = engineEndpoints.realtime!;
  const liveUrl = engineEndpoints.live!;

  const twilioAccountSid = text("TWILIO_ACCOUNT_SID");
  if (twilioAccountSid !== undefined && !/^AC[0-9a-fA-F]{32}$/.test(twilioAccountSid)) {
    problems.push(
      `TWILIO_ACCOUNT_SID: "${twilioAccountSid}" is not an account SID (AC followed by 32 hex digits)`,
    );
  }
  const twilioPhoneNumber = text("TWILIO_PHONE_NUMBER");
  if (twilioPhoneNumber !== undefined && !isE164(twilioPhoneNumber)) {
    problems.push(`TWILIO_PHONE_NUMBER: "${twilioPhoneNumber}" is not an E.164 number like +14155550100`);
  }

  const twilioApiBaseUrl = (text("TWILIO_API_BASE_URL") ?? "https://api.twilio.com").replace(/\/+$/, "");
  if (tryUrl(twilioApiBaseUrl) === undefined) {
    problems.push(`TWILIO_API_BASE_URL: "${twilioApiBaseUrl}" is not a URL`);
  }

  const twilioSignatureCheck = parseSwitch(
    "TWILIO_SIGNATURE_CHECK",
    text("TWILIO_SIGNATURE_CHECK"),
    true,
    problems,
  );
  const metricsPublic = parseSwitch("METRICS_PUBLIC", text("METRICS_PUBLIC"), false, problems);

  const apiToken = text("API_TOKEN");
  if (apiToken !== undefined && apiToken.length < 16) {
    problems.push("API_TOKEN: shorter than 16 characters: use a long random value (openssl rand -hex 24)");
  }

  const defaultPersona = parsePersonaId(
    "DEFAULT_PERSONA",
    text("DEFAULT_PERSONA"),
    DEFAULT_OUTBOUND_PERSONA,
    problems,
  );
  const inboundPersona = parsePersonaId(
    "INBOUND_PERSONA",
    text("INBOUND_PERSONA"),
    DEFAULT_INBOUND_PERSONA,
    problems,
  );

  const realtimeModel = text("OPENAI_REALTIME_MODEL") ?? DEFAULT_REALTIME_MODEL;
  const unserved = modelProblem(realtimeModel);
  if (unserved !== undefined) problems.push(`OPENAI_REALTIME_MODEL: ${unserved}`);

  const pricesJson = text("PRICES_JSON");
  if (pricesJson !== undefined) {
    try {
      parsePriceOverrides(pricesJson);
    } catch (error) {
      if (!(error instanceof PriceConfigError)) throw error;
      problems.push(...error.problems.map((problem) => `PRICES_JSON: ${problem}`));
    }
  }

  const ngrokApiUrl = (text("NGROK_API_URL") ?? "http://127.0.0.1:4040").replace(/\/+$/, "");
  const maxConcurrentCalls = parseCount("MAX_CONCURRENT_CALLS", text("MAX_CONCURRENT_CALLS"), 100, problems);
  const inboundReserve = parseCount(
    "INBOUND_RESERVE",
    text("INBOUND_RESERVE"),
    Math.floor(maxConcurrentCalls / 10),
    problems,
  );
  if (inboundReserve > maxConcurrentCalls) {
    problems.push(
      `INBOUND_RESERVE: ${inboundReserve} is more than MAX_CONCURRENT_CALLS (${maxConcurrentCalls}): campaigns could never dial`,
    );
  }
  const recordingRetentionDays = parseRetentionDays(text("RECORDING_RETENTION_DAYS"), problems);
  const recordingsS3 = parseRecordingsS3(text, problems);
  const drainTimeoutS = parseCount("DRAIN_TIMEOUT_S", text("DRAIN_TIMEOUT_S"), 600, problems);
  let instanceTimeoutS = parseCount("INSTANCE_TIMEOUT_S", text("INSTANCE_TIMEOUT_S"), 30, problems);
  if (instanceTimeoutS === 0) {
    problems.push(
      `INSTANCE_TIMEOUT_S: "0" would take every peer for dead: use 1 or more seconds (default 30)`,
    );
    instanceTimeoutS = 30;
  }
  const sessionRolloverMinutes = parseMinutes(
    "SESSION_ROLLOVER_MINUTES",
    text("SESSION_ROLLOVER_MINUTES"),
    problems,
  );

  const openaiBaseUrl = (text("OPENAI_BASE_URL") ?? "https://api.openai.com/v1").replace(/\/+$/, "");
  const parsedBase = tryUrl(openaiBaseUrl);
  if (parsedBase === undefined || !["https:", "http:"].includes(parsedBase.protocol)) {
    problems.push(`OPENAI_BASE_URL: "${openaiBaseUrl}" is not an http:// or https:// URL`);
  }

  const databaseUrl = text("DATABASE_URL");
  // The user must be in the URL: the driver's fallback (the OS user name) needs a permission Parley lacks.
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\/[\x21-\x7e]+@[\x21-\x7e]+$/.test(databaseUrl)) {
    problems.push(
      `DATABASE_URL: "${
        databaseUrl.replace(/\/\/[^@/]*@/, "//***@").replace(/[^\x20-\x7e]/g, "?").slice(0, 100)
      }" is not a Postgres URL: use postgres://user:password@host:5432/database, or leave it unset for SQLite in DATA_DIR`,
    );
  }

  const instanceId = text("INSTANCE_ID") ?? defaultInstanceId(databaseUrl !== undefined);
  if (!INSTANCE_ID.test(instanceId)) {
    problems.push(
      `INSTANCE_ID: "${
        instanceId.replace(/[^\x20-\x7e]/g, "?").slice(0, 100)
      }" is not a name: use 1 to 100 letters, digits, ".", "_" or "-"`,
    );
  }

  const webhook = parseWebhookSettings(text("WEBHOOK_URL"), text("WEBHOOK_SECRET"), problems);

  const config: ParleyConfig = {
    port,
    host,
    publicBaseUrl,
    ...(publicInstanceUrl === undefined ? {} : { publicInstanceUrl }),
    openaiApiKey: openaiApiKey ?? "",
    realtimeModel,
    engineEndpoints,
    realtimeUrl,
    liveUrl,
    twilioAccountSid,
    twilioAuthToken: text("TWILIO_AUTH_TOKEN"),
    twilioPhoneNumber,
    twilioApiBaseUrl,
    twilioSignatureCheck,
    apiToken,
    personasDir: text("PERSONAS_DIR") ?? "./personas",
    defaultPersona,
    inboundPersona,
    dataDir: text("DATA_DIR") ?? "./data",
    databaseUrl,
    recordingsDir: text("RECORDINGS_DIR") ?? join(text("DATA_DIR") ?? "./data", "recordings"),
    recordingRetentionDays,
    recordingsS3,
    instanceId,
    metricsPublic,
    pricesJson,
    ngrokApiUrl,
    maxConcurrentCalls,
    inboundReserve,
    drainTimeoutS,
    instanceTimeoutS,
    tracing: ["true", "1"].includes(text("OTEL_DENO")?.toLowerCase() ?? ""),
    sessionRolloverMinutes,
    webhook,
    openaiBaseUrl,
    judgeModel: text("OPENAI_JUDGE_MODEL") ?? "gpt-5-mini",
    analysisModel: text("OPENAI_ANALYSIS_MODEL") ?? DEFAULT_ANALYSIS_MODEL,
  };
  return { config, problems };
}

const INSTANCE_ID = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * The host name: with SQLite, stable across restarts, so the startup clean-up finds the last run's
 * calls. With a shared database (`shared`), the host name plus a random suffix, so that instances on
 * one host (or containers sharing a host name) never take each other's calls; a peer closes a
 * crashed instance's calls instead.
 */
function defaultInstanceId(shared: boolean): string {
  // Tools that never record calls run without --allow-sys=hostname: no permission prompt for them.
  const granted = Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted";
  const host = (granted ? Deno.hostname().replace(/[^A-Za-z0-9._-]/g, "-") : "").slice(0, 100) || "local";
  return shared ? `${host.slice(0, 91)}-${crypto.randomUUID().slice(0, 8)}` : host;
}

/** Values still set to `.env.example`'s placeholders, one problem each. */
function examplePlaceholderProblems(env: Env): string[] {
  const problems: string[] = [];
  for (const [name, placeholder] of Object.entries(EXAMPLE_PLACEHOLDERS)) {
    if (env[name as EnvVariable]?.trim().replace(/\/+$/, "") === placeholder) {
      problems.push(
        `${name}: "${placeholder}" is the example value from .env.example: replace it in .env with your own` +
          (name === "OPENAI_API_KEY" ? " key" : " value, or delete the line"),
      );
    }
  }
  return problems;
}

/** Reads only the variables Parley uses, so a scoped `--allow-env` is enough. */
export function readEnv(): Env {
  const env: Env = {};
  for (const name of ENV_VARIABLES) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}
