/**
 * Parley's configuration, read from the environment once at startup.
 *
 * Every problem is collected and reported in one {@linkcode ConfigError}, each line naming the
 * variable, so a user fixes `.env` in one pass instead of one restart per mistake.
 *
 * @module
 */

import { DEFAULT_LIVE_URL } from "./engines/live/session.ts";
import { parsePriceOverrides, PriceConfigError } from "./engines/prices.ts";
import { modelProblem } from "./engines/registry.ts";
import { parseWebhookSettings, type WebhookSettings } from "./webhook_settings.ts";

/** Every environment variable Parley reads; `deno.json` grants `--allow-env` for exactly these. */
export const ENV_VARIABLES = [
  "PORT",
  "HOST",
  "PUBLIC_BASE_URL",
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
  "DRAIN_TIMEOUT_S",
  "SESSION_ROLLOVER_MINUTES",
  "INSTANCE_ID",
  "WEBHOOK_URL",
  "WEBHOOK_SECRET",
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
  /** Bearer key for the OpenAI Realtime API. */
  openaiApiKey: string;
  /** Realtime model used when a persona names none. @default "gpt-realtime-2.1" */
  realtimeModel: string;
  /** Realtime WebSocket endpoint; the model goes in its `model` query parameter. */
  realtimeUrl: string;
  /** GPT-Live WebSocket endpoint, without query parameters (the model goes in `session.start`). */
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
   * This instance's name in its call records: the startup clean-up closes only its own calls.
   * @default the host name
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
  /** On SIGTERM/SIGINT, how long live calls may go on before they are ended, seconds. @default 600 */
  drainTimeoutS: number;
  /**
   * An upstream session this old is replaced, with the conversation so far, at the call's next quiet
   * moment (before OpenAI's 60-minute session cap), minutes. @default 55
   */
  sessionRolloverMinutes: number;
  /** Where signed call events go (`WEBHOOK_URL`, `WEBHOOK_SECRET`), or undefined: webhooks off. */
  webhook: WebhookSettings | undefined;
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
/** Persona of outbound calls when DEFAULT_PERSONA is unset. */
export const DEFAULT_OUTBOUND_PERSONA = "alex";
/** Persona of inbound calls when INBOUND_PERSONA is unset. */
export const DEFAULT_INBOUND_PERSONA = "receptionist";
/** Default Realtime endpoint. */
export const DEFAULT_REALTIME_URL = "wss://api.openai.com/v1/realtime";

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
  const problems: string[] = [];
  for (const [name, placeholder] of Object.entries(EXAMPLE_PLACEHOLDERS)) {
    if (env[name as EnvVariable]?.trim().replace(/\/+$/, "") === placeholder) {
      problems.push(
        `${name}: "${placeholder}" is the example value from .env.example: replace it in .env with your own` +
          (name === "OPENAI_API_KEY" ? " key" : " value, or delete the line"),
      );
    }
  }
  const text = (name: EnvVariable): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };

  const port = parsePort(text("PORT"), problems);
  const host = parseHost(text("HOST"), problems);

  let publicBaseUrl = text("PUBLIC_BASE_URL");
  if (publicBaseUrl !== undefined) {
    publicBaseUrl = publicBaseUrl.replace(/\/+$/, "");
    const url = tryUrl(publicBaseUrl);
    if (url === undefined || url.protocol !== "https:") {
      problems.push(
        `PUBLIC_BASE_URL: "${publicBaseUrl}" is not an https URL: use the https address Twilio reaches, e.g. https://abc123.ngrok-free.app`,
      );
    } else if (url.pathname !== "/" || url.search !== "") {
      problems.push(`PUBLIC_BASE_URL: "${publicBaseUrl}" has a path or query: give only the origin`);
    }
  }

  const openaiApiKey = text("OPENAI_API_KEY");
  if (openaiApiKey === undefined) {
    problems.push("OPENAI_API_KEY: not set: put your OpenAI API key (sk-…) in .env");
  }

  const realtimeUrl = text("OPENAI_REALTIME_URL") ?? DEFAULT_REALTIME_URL;
  const parsedRealtime = tryUrl(realtimeUrl);
  if (parsedRealtime === undefined || !["wss:", "ws:"].includes(parsedRealtime.protocol)) {
    problems.push(`OPENAI_REALTIME_URL: "${realtimeUrl}" is not a ws:// or wss:// URL`);
  }

  const liveUrl = text("OPENAI_LIVE_URL") ?? DEFAULT_LIVE_URL;
  const parsedLive = tryUrl(liveUrl);
  if (parsedLive === undefined || !["wss:", "ws:"].includes(parsedLive.protocol)) {
    problems.push(`OPENAI_LIVE_URL: "${liveUrl}" is not a ws:// or wss:// URL`);
  } else if (parsedLive.search !== "") {
    problems.push(
      `OPENAI_LIVE_URL: "${liveUrl}" has a query string: GPT-Live refuses query parameters (the model goes in session.start)`,
    );
  }

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

  const personaId = (name: EnvVariable, fallback: string) => {
    const id = text(name) ?? fallback;
    if (/^[A-Za-z0-9_-]+$/.test(id)) return id;
    problems.push(`${name}: "${id}" is not a persona id (a file name without .ts)`);
    return fallback;
  };
  const defaultPersona = personaId("DEFAULT_PERSONA", DEFAULT_OUTBOUND_PERSONA);
  const inboundPersona = personaId("INBOUND_PERSONA", DEFAULT_INBOUND_PERSONA);

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
  const drainTimeoutS = parseCount("DRAIN_TIMEOUT_S", text("DRAIN_TIMEOUT_S"), 600, problems);
  const sessionRolloverMinutes = parseMinutes(
    "SESSION_ROLLOVER_MINUTES",
    text("SESSION_ROLLOVER_MINUTES"),
    problems,
  );

  const instanceId = text("INSTANCE_ID") ?? defaultInstanceId();
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
    openaiApiKey: openaiApiKey ?? "",
    realtimeModel,
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
    instanceId,
    metricsPublic,
    pricesJson,
    ngrokApiUrl,
    maxConcurrentCalls,
    drainTimeoutS,
    sessionRolloverMinutes,
    webhook,
  };
  return { config, problems };
}

const INSTANCE_ID = /^[A-Za-z0-9._-]{1,100}$/;

/** The host name (stable across restarts, so the startup clean-up finds the last run's calls). */
function defaultInstanceId(): string {
  // Tools that never record calls run without --allow-sys=hostname: no permission prompt for them.
  if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state !== "granted") return "local";
  const host = Deno.hostname().replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 100);
  return host === "" ? "local" : host;
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

/** True for an E.164 phone number: `+`, then 8 to 15 digits, the first not 0. */
export function isE164(value: string): boolean {
  return /^\+[1-9][0-9]{7,14}$/.test(value);
}

function parsePort(value: string | undefined, problems: string[]): number {
  if (value === undefined) return 4000;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    problems.push(`PORT: "${value}" is not a port number (0 to 65535)`);
    return 4000;
  }
  return port;
}

/** Default `HOST`: every IPv4 interface (a reverse proxy or container reaches it; so does ngrok). */
export const DEFAULT_HOST = "0.0.0.0";

function parseHost(value: string | undefined, problems: string[]): string {
  if (value === undefined) return DEFAULT_HOST;
  const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(value);
  const valid = ipv4 !== null
    ? ipv4.slice(1).every((part) => Number(part) <= 255)
    : /^[0-9A-Fa-f:.]+$/.test(value) && value.includes(":") ||
      /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(value);
  if (valid) return value;
  problems.push(
    `HOST: "${value}" is not an address to listen on: use 0.0.0.0 (every interface), 127.0.0.1 (this ` +
      "machine only), :: (every interface, IPv6 too) or one of this machine's addresses",
  );
  return DEFAULT_HOST;
}

function parseCount(
  name: EnvVariable,
  value: string | undefined,
  fallback: number,
  problems: string[],
): number {
  if (value === undefined) return fallback;
  const count = Number(value);
  if (!Number.isSafeInteger(count) || count < 0) {
    problems.push(`${name}: "${value}" is not a whole number (0 or more)`);
    return fallback;
  }
  return count;
}

function parseMinutes(name: EnvVariable, value: string | undefined, problems: string[]): number {
  const fallback = 55;
  if (value === undefined) return fallback;
  const minutes = Number(value);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes >= 60) {
    problems.push(
      `${name}: "${value}" is not a number of minutes above 0 and below 60 (OpenAI's session cap)`,
    );
    return fallback;
  }
  return minutes;
}

function parseSwitch(
  name: EnvVariable,
  value: string | undefined,
  fallback: boolean,
  problems: string[],
): boolean {
  if (value === undefined) return fallback;
  const lower = value.toLowerCase();
  if (["1", "true", "on", "yes"].includes(lower)) return true;
  if (["0", "false", "off", "no"].includes(lower)) return false;
  problems.push(`${name}: "${value}" is not on or off`);
  return fallback;
}

function tryUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
