/**
 * Parley's configuration, read from the environment once at startup.
 *
 * Every problem is collected and reported in one {@linkcode ConfigError}, each line naming the
 * variable, so a user fixes `.env` in one pass instead of one restart per mistake. The variables are
 * listed in `config_env.ts`, the resolved shape is `config_shape.ts`, each area's checks are in
 * `config_sections.ts`, and one variable's text becomes a value in `config_values.ts`.
 *
 * @module
 */

import { join } from "node:path";
import { parseRecordingsS3 } from "./recordings_config.ts";
import {
  DEFAULT_HOST,
  isE164,
  parseHost,
  parsePort,
  parsePublicBaseUrl,
  parseRetentionDays,
  parseSwitch,
} from "./config_values.ts";
import { parseWebhookSettings } from "./webhook_settings.ts";
import { parseTrustedProxies } from "./http/trusted_proxies.ts";
import { databaseUrlPasswords } from "./database_url.ts";
import { type Env, envText, EXAMPLE_PLACEHOLDERS, examplePlaceholderProblems } from "./config_env.ts";
import type { ParleyConfig } from "./config_shape.ts";
import {
  checkCapacity,
  checkInstance,
  checkLifetimes,
  checkModelAndPrices,
  checkOpenAiAccess,
  checkOpenAiBaseUrl,
  checkPersonaDefaults,
  checkTwilio,
  DEFAULT_INBOUND_PERSONA,
  DEFAULT_OUTBOUND_PERSONA,
  DEFAULT_REALTIME_MODEL,
} from "./config_sections.ts";

export { DEFAULT_HOST, isE164 };
export type { ParleyConfig };
export { DEFAULT_INBOUND_PERSONA, DEFAULT_OUTBOUND_PERSONA, DEFAULT_REALTIME_MODEL };
export { DRIVER_ENV_VARIABLES, ENV_VARIABLES, EXAMPLE_PLACEHOLDERS, readEnv } from "./config_env.ts";
export type { Env, EnvVariable } from "./config_env.ts";

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

/** Responses model of post-call analyses when OPENAI_ANALYSIS_MODEL is unset. */
export const DEFAULT_ANALYSIS_MODEL = "gpt-5-mini";

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
  const text = envText(env);

  const port = parsePort(text("PORT"), problems);
  const host = parseHost(text("HOST"), problems);

  const publicBaseUrl = parsePublicBaseUrl(text("PUBLIC_BASE_URL"), problems);
  const publicInstanceUrl = parsePublicBaseUrl(text("PUBLIC_INSTANCE_URL"), problems, "PUBLIC_INSTANCE_URL");

  const { openaiApiKey, ...engines } = checkOpenAiAccess(text, problems);
  const twilio = checkTwilio(text, problems);
  const metricsPublic = parseSwitch("METRICS_PUBLIC", text("METRICS_PUBLIC"), false, problems);
  const trustedProxies = parseTrustedProxies(text("TRUSTED_PROXIES"), problems);

  const apiToken = text("API_TOKEN");
  if (apiToken !== undefined && apiToken.length < 16) {
    problems.push("API_TOKEN: shorter than 16 characters: use a long random value (openssl rand -hex 24)");
  }

  const personas = checkPersonaDefaults(text, problems);
  const modelAndPrices = checkModelAndPrices(text, problems);
  const ngrokApiUrl = (text("NGROK_API_URL") ?? "http://127.0.0.1:4040").replace(/\/+$/, "");
  const capacity = checkCapacity(text, problems);
  const recordingRetentionDays = parseRetentionDays(text("RECORDING_RETENTION_DAYS"), problems);
  const recordingsS3 = parseRecordingsS3(text, problems);
  const lifetimes = checkLifetimes(text, problems);
  const openaiBaseUrl = checkOpenAiBaseUrl(text, problems);
  const instance = checkInstance(text, problems);
  const webhook = parseWebhookSettings(text("WEBHOOK_URL"), text("WEBHOOK_SECRET"), problems);

  const config: ParleyConfig = {
    port,
    host,
    publicBaseUrl,
    ...(publicInstanceUrl === undefined ? {} : { publicInstanceUrl }),
    openaiApiKey: openaiApiKey ?? "",
    ...modelAndPrices,
    ...engines,
    ...twilio,
    twilioAuthToken: text("TWILIO_AUTH_TOKEN"),
    apiToken,
    personasDir: text("PERSONAS_DIR") ?? "./personas",
    ...personas,
    dataDir: text("DATA_DIR") ?? "./data",
    ...instance,
    recordingsDir: text("RECORDINGS_DIR") ?? join(text("DATA_DIR") ?? "./data", "recordings"),
    recordingRetentionDays,
    recordingsS3,
    metricsPublic,
    trustedProxies,
    ngrokApiUrl,
    ...capacity,
    ...lifetimes,
    tracing: parseOtelDeno(text("OTEL_DENO"), problems),
    webhook,
    ...openaiBaseUrl,
    judgeModel: text("OPENAI_JUDGE_MODEL") ?? "gpt-5-mini",
    analysisModel: text("OPENAI_ANALYSIS_MODEL") ?? DEFAULT_ANALYSIS_MODEL,
  };
  return { config, problems: problems.map((problem) => withoutSecretValues(problem, env)) };
}

/** Variables whose values are secrets: a problem that quotes another variable never prints one. */
const SECRET_VARIABLES = [
  "OPENAI_API_KEY",
  "TWILIO_AUTH_TOKEN",
  "API_TOKEN",
  "WEBHOOK_SECRET",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
] as const;

/**
 * `problem` with the value of every secret variable replaced by the variable's name: startup problems
 * are printed before any logger masks them, and a value pasted into the wrong line (an auth token in
 * `TWILIO_ACCOUNT_SID`) is quoted by that line's problem. `.env.example`'s placeholders are no secret.
 */
function withoutSecretValues(problem: string, env: Env): string {
  for (const name of SECRET_VARIABLES) {
    const value = env[name]?.trim();
    if (value === undefined || value.length < 6 || value === EXAMPLE_PLACEHOLDERS[name]) continue;
    problem = problem.replaceAll(value, `[the value of ${name}]`);
  }
  return problem;
}

/**
 * The configuration's secrets, for the logger to mask: the OpenAI key, the Twilio token, API_TOKEN,
 * WEBHOOK_SECRET, the S3 credentials and DATABASE_URL's password (as written and decoded). Every
 * process that logs with a configuration masks the same list.
 *
 * @example
 * ```ts
 * const log = createLogger({ secrets: configSecrets(config) });
 * ```
 */
export function configSecrets(config: ParleyConfig): (string | undefined)[] {
  return [
    config.openaiApiKey,
    config.twilioAuthToken,
    config.apiToken,
    config.webhook?.secret,
    config.recordingsS3?.secretAccessKey,
    config.recordingsS3?.sessionToken,
    ...(config.databaseUrl === undefined ? [] : databaseUrlPasswords(config.databaseUrl)),
  ];
}

/**
 * `OTEL_DENO`, read as Deno reads it: only `true` or `false` (any case). Deno ignores any other value
 * (`1`, `on`), with a warning, and exports nothing, so Parley would build spans that go nowhere: it
 * is a problem instead.
 */
function parseOtelDeno(value: string | undefined, problems: string[]): boolean {
  const lower = value?.toLowerCase();
  if (lower === undefined || lower === "false") return false;
  if (lower === "true") return true;
  problems.push(
    `OTEL_DENO: "${
      value!.slice(0, 40)
    }" is not true or false (Deno reads only those, and leaves OpenTelemetry off for any other value)`,
  );
  return false;
}
