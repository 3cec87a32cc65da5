/**
 * The environment Parley reads: the variables it knows (and so asks `--allow-env` for), reading them,
 * and the `.env.example` placeholders a user forgot to replace.
 *
 * @module
 */

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
  "TRUSTED_PROXIES",
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

/** Reads variable `name` of `env`, trimmed; undefined when unset or blank. */
export type EnvText = (name: EnvVariable) => string | undefined;

/** The {@linkcode EnvText} lookup of `env`. */
export function envText(env: Env): EnvText {
  return (name) => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
}

/** Values still set to `.env.example`'s placeholders, one problem each. */
export function examplePlaceholderProblems(env: Env): string[] {
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
