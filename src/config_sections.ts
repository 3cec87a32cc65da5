/**
 * The configuration area by area, for `config.ts`: each section reads its variables, adds a line
 * naming the variable to `problems` for each bad one, and returns its part of {@linkcode ParleyConfig}
 * (defaults in place of bad values).
 *
 * @module
 */

import type { ParleyConfig } from "./config_shape.ts";
import type { EnvText, EnvVariable } from "./config_env.ts";
import { parsePriceOverrides, PriceConfigError } from "./engines/prices.ts";
import { ENGINE_REGISTRY, modelProblem } from "./engines/registry.ts";
import { isE164, parseCount, parseMinutes, parsePersonaId, parseSwitch, tryUrl } from "./config_values.ts";
import { MAX_TIMER_MS } from "./shutdown.ts";

/** Default Realtime model. */
export const DEFAULT_REALTIME_MODEL = "gpt-realtime-2.1";
/** Persona of outbound calls when DEFAULT_PERSONA is unset. */
export const DEFAULT_OUTBOUND_PERSONA = "alex";
/** Persona of inbound calls when INBOUND_PERSONA is unset. */
export const DEFAULT_INBOUND_PERSONA = "receptionist";

/** `OPENAI_API_KEY` and each engine's WebSocket endpoint. */
export function checkOpenAiAccess(
  text: EnvText,
  problems: string[],
): Pick<ParleyConfig, "engineEndpoints" | "realtimeUrl" | "liveUrl"> & { openaiApiKey: string | undefined } {
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
  return { openaiApiKey, engineEndpoints, realtimeUrl, liveUrl };
}

/** Twilio's account, number, REST API and signature check (the auth token is taken as given). */
export function checkTwilio(
  text: EnvText,
  problems: string[],
): Pick<
  ParleyConfig,
  "twilioAccountSid" | "twilioPhoneNumber" | "twilioApiBaseUrl" | "twilioSignatureCheck"
> {
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
  return { twilioAccountSid, twilioPhoneNumber, twilioApiBaseUrl, twilioSignatureCheck };
}

/** The personas of outbound and inbound calls that name none. */
export function checkPersonaDefaults(
  text: EnvText,
  problems: string[],
): Pick<ParleyConfig, "defaultPersona" | "inboundPersona"> {
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
  return { defaultPersona, inboundPersona };
}

/** The default Realtime model, and the price overrides (checked here, parsed again where used). */
export function checkModelAndPrices(
  text: EnvText,
  problems: string[],
): Pick<ParleyConfig, "realtimeModel" | "pricesJson"> {
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
  return { realtimeModel, pricesJson };
}

/** How many calls at once, and how many of them campaigns leave to inbound calls. */
export function checkCapacity(
  text: EnvText,
  problems: string[],
): Pick<ParleyConfig, "maxConcurrentCalls" | "inboundReserve"> {
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
  return { maxConcurrentCalls, inboundReserve };
}

/**
 * The longest `DRAIN_TIMEOUT_S`, seconds (about 24.8 days): the drain waits on a timer, and a timer
 * holds at most 2^31 − 1 ms; a longer one fires after 1 ms, ending every live call at once.
 */
export const MAX_DRAIN_TIMEOUT_S = Math.floor(MAX_TIMER_MS / 1000);

/**
 * How long a drain waits, a silent peer lives, and an upstream session lasts. Only `DRAIN_TIMEOUT_S`
 * becomes a timer's delay: `INSTANCE_TIMEOUT_S` is compared in SQL (the heartbeat beats every 5 s at
 * most) and `SESSION_ROLLOVER_MINUTES` stays below 60 minutes.
 */
export function checkLifetimes(
  text: EnvText,
  problems: string[],
): Pick<ParleyConfig, "drainTimeoutS" | "instanceTimeoutS" | "sessionRolloverMinutes"> {
  let drainTimeoutS = parseCount("DRAIN_TIMEOUT_S", text("DRAIN_TIMEOUT_S"), 600, problems);
  if (drainTimeoutS > MAX_DRAIN_TIMEOUT_S) {
    problems.push(
      `DRAIN_TIMEOUT_S: "${text("DRAIN_TIMEOUT_S")}" is longer than a timer can wait: use at most ` +
        `${MAX_DRAIN_TIMEOUT_S} seconds (about 24 days; default 600)`,
    );
    drainTimeoutS = 600;
  }
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
  return { drainTimeoutS, instanceTimeoutS, sessionRolloverMinutes };
}

/** OpenAI's REST API base URL. */
export function checkOpenAiBaseUrl(text: EnvText, problems: string[]): Pick<ParleyConfig, "openaiBaseUrl"> {
  const openaiBaseUrl = (text("OPENAI_BASE_URL") ?? "https://api.openai.com/v1").replace(/\/+$/, "");
  const parsedBase = tryUrl(openaiBaseUrl);
  if (parsedBase === undefined || !["https:", "http:"].includes(parsedBase.protocol)) {
    problems.push(`OPENAI_BASE_URL: "${openaiBaseUrl}" is not an http:// or https:// URL`);
  }
  return { openaiBaseUrl };
}

const INSTANCE_ID = /^[A-Za-z0-9._-]{1,100}$/;

/** The shared Postgres database, if any, and this instance's name. */
export function checkInstance(
  text: EnvText,
  problems: string[],
): Pick<ParleyConfig, "databaseUrl" | "instanceId" | "instanceIdKept"> {
  const databaseUrl = text("DATABASE_URL");
  // The user must be in the URL: the driver's fallback (the OS user name) needs a permission Parley lacks.
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\/[\x21-\x7e]+@[\x21-\x7e]+$/.test(databaseUrl)) {
    problems.push(
      `DATABASE_URL: "${
        // Everything before the last @ but the scheme: a password may hold "/" or "@", or the "//" be missing.
        databaseUrl.replace(/^([a-z][a-z0-9+.-]*:\/*)?.*@/is, "$1***@").replace(/[^\x20-\x7e]/g, "?").slice(
          0,
          100,
        )}" is not a Postgres URL: use postgres://user:password@host:5432/database, or leave it unset for SQLite in DATA_DIR`,
    );
  }

  const given = text("INSTANCE_ID");
  const instanceId = given ?? defaultInstanceId(databaseUrl !== undefined);
  if (!INSTANCE_ID.test(instanceId)) {
    problems.push(
      `INSTANCE_ID: "${
        instanceId.replace(/[^\x20-\x7e]/g, "?").slice(0, 100)
      }" is not a name: use 1 to 100 letters, digits, ".", "_" or "-"`,
    );
  }
  return { databaseUrl, instanceId, instanceIdKept: given !== undefined || databaseUrl === undefined };
}

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
