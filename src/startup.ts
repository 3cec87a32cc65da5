/**
 * Everything Parley checks before it listens: the configuration, the personas, the public URL, the
 * port and the data folder. Every problem found is reported in one {@linkcode StartupError}, so a
 * newcomer fixes `.env` in one pass instead of one restart per mistake.
 *
 * @module
 */

import { checkConfig, type ParleyConfig } from "./config.ts";
import { DEFAULT_INBOUND_PERSONA } from "./config_sections.ts";
import type { Env } from "./config_env.ts";
import {
  createPersonaRegistry,
  loadPersonas,
  missingPersonas,
  PersonaLoadError,
  type ReloadablePersonaRegistry,
  type RequiredPersona,
} from "./personas/loader.ts";
import type { ServerConfig } from "./app/server.ts";
import { callDatabasePath } from "./store/sqlite/call_store.ts";
import type { Store } from "./store/ports.ts";
import { openSqliteStore } from "./store/sqlite/store.ts";
import { describeDatabaseUrl } from "./database_url.ts";
import { type PriceTable, resolvePrices } from "./engines/prices.ts";
import { discoverNgrokUrl } from "./twilio/ngrok.ts";
import { errorText } from "./log.ts";
import { callDatabaseProblem, checkDataDir, checkRecordingsDir } from "./startup_folders.ts";

/** Raised by {@linkcode prepareStartup}: one line per problem, each naming what to fix. */
export class StartupError extends Error {
  /** Each problem, starting with the variable (or file) it is about. */
  readonly problems: string[];
  /** Builds the error; its message lists every problem. */
  constructor(problems: string[]) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(
      `Parley cannot start: ${count}:\n${problems.map((p) => `   - ${p}`).join("\n")}\n` +
        "   Fix them in .env (or PERSONAS_DIR) and start again.",
    );
    this.name = "StartupError";
    this.problems = problems;
  }
}

/** Where the public URL came from: `none` in browser-only mode. */
export type PublicUrlSource = "PUBLIC_BASE_URL" | "ngrok" | "none";

/**
 * What chose the persona of inbound calls: `INBOUND_PERSONA` set, its default `receptionist`, or
 * (INBOUND_PERSONA unset and no `receptionist` persona) the `DEFAULT_PERSONA`.
 */
export type InboundPersonaSource = "INBOUND_PERSONA" | "receptionist" | "DEFAULT_PERSONA";

/** The Twilio variables: with none set (and no public URL), Parley starts in browser-only mode. */
export const TWILIO_VARIABLES = ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER"] as const;

/** What Parley runs with once every check passed. */
export interface PreparedStartup {
  config: ServerConfig;
  /**
   * Where the public URL came from; `none` is browser-only mode: no Twilio variable, no
   * PUBLIC_BASE_URL and no ngrok tunnel, so only the softphone takes calls (see {@linkcode browserOnly}).
   */
  publicUrlSource: PublicUrlSource;
  /** Which setting chose the persona of inbound calls (see {@linkcode InboundPersonaSource}). */
  inboundPersonaSource: InboundPersonaSource;
  personas: ReloadablePersonaRegistry;
  /** Personas the configuration names; the persona watcher keeps them loaded. */
  requiredPersonas: RequiredPersona[];
  store: Store;
  databasePath: string;
  prices: PriceTable;
}

/** Options for {@linkcode prepareStartup}. */
export interface PrepareStartupOptions {
  /** Used to ask the local ngrok agent. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Where the call store reports write failures (see `CallStoreOptions.onError`). @default console.error */
  onStoreError?: (message: string) => void;
}

/**
 * The personas the configuration names: DEFAULT_PERSONA (outbound) and, when set, INBOUND_PERSONA. Its
 * default, `receptionist`, is not required: without it DEFAULT_PERSONA answers inbound calls.
 */
export function requiredPersonas(
  config: Pick<ParleyConfig, "defaultPersona" | "inboundPersona">,
  inboundFrom: InboundPersonaSource = "INBOUND_PERSONA",
): RequiredPersona[] {
  const outbound = { variable: "DEFAULT_PERSONA", id: config.defaultPersona };
  if (inboundFrom !== "INBOUND_PERSONA") return [outbound];
  return [outbound, { variable: "INBOUND_PERSONA", id: config.inboundPersona }];
}

/**
 * What chose the inbound persona, with these persona `ids`: INBOUND_PERSONA when `inboundSet`; unset,
 * its default `receptionist` when there is one, else DEFAULT_PERSONA.
 */
export function inboundPersonaSourceOf(inboundSet: boolean, ids: readonly string[]): InboundPersonaSource {
  return inboundSet
    ? "INBOUND_PERSONA"
    : ids.includes(DEFAULT_INBOUND_PERSONA)
    ? "receptionist"
    : "DEFAULT_PERSONA";
}

/**
 * Keeps `config.inboundPersona` (read by the voice webhook on each call) as a start with the reloaded
 * personas would choose it: with INBOUND_PERSONA unset, removing `receptionist.ts` hands inbound calls
 * to DEFAULT_PERSONA, adding it (back) hands them to it. Call with each reload's ids; returns the log line
 * when the inbound persona changed.
 *
 * @example
 * ```ts
 * const followInbound = inboundPersonaFollower(config, prepared.inboundPersonaSource);
 * const line = followInbound(["alex"]); // receptionist.ts removed: DEFAULT_PERSONA answers
 * ```
 */
export function inboundPersonaFollower(
  config: Pick<ParleyConfig, "defaultPersona" | "inboundPersona">,
  startedWith: InboundPersonaSource,
): (ids: readonly string[]) => string | undefined {
  let source = startedWith;
  return (ids) => {
    const next = inboundPersonaSourceOf(source === "INBOUND_PERSONA", ids);
    if (next === source) return undefined;
    source = next;
    if (next === "receptionist") {
      config.inboundPersona = DEFAULT_INBOUND_PERSONA;
      return `Inbound calls: ${DEFAULT_INBOUND_PERSONA} (INBOUND_PERSONA is not set, and its default ` +
        `${DEFAULT_INBOUND_PERSONA}.ts is there now)`;
    }
    config.inboundPersona = config.defaultPersona;
    return `Inbound calls: ${config.defaultPersona} (DEFAULT_PERSONA: INBOUND_PERSONA is not set and there ` +
      `is no ${DEFAULT_INBOUND_PERSONA} persona any more)`;
  };
}

/**
 * Checks everything and opens what Parley needs.
 *
 * @example
 * ```ts
 * const { config, personas, store } = await prepareStartup(readEnv());
 * ```
 * @throws {StartupError} listing every problem found.
 */
export async function prepareStartup(
  env: Env,
  options: PrepareStartupOptions = {},
): Promise<PreparedStartup> {
  const { config, problems } = checkConfig(env);
  const { personas, inboundPersonaSource, required } = await checkPersonas(config, env, problems);
  const { publicBaseUrl, publicUrlSource } = await resolvePublicUrl(config, env, options, problems);

  // A bad PORT was replaced by the default: probing that would report a port the user never chose.
  const portProblem = problems.some((p) => p.startsWith("PORT:") || p.startsWith("HOST:"))
    ? undefined
    : checkPortFree(config.port, config.host);
  if (portProblem !== undefined) problems.push(portProblem);

  let prices: PriceTable | undefined;
  try {
    prices = resolvePrices(config.pricesJson);
  } catch {
    prices = undefined; // checkConfig has reported it
  }
  const databasePath = config.databaseUrl === undefined
    ? callDatabasePath(config.dataDir)
    : `Postgres at ${describeDatabaseUrl(config.databaseUrl)}`;
  // Before the store opens: a recordings folder Parley cannot use refuses the start with nothing open.
  const recordingsUnset = !env.RECORDINGS_DIR?.trim();
  const recordingsProblem = checkRecordingsDir(config.recordingsDir, {
    unset: recordingsUnset,
    ...(recordingsUnset && config.databaseUrl === undefined ? { dataDir: config.dataDir } : {}),
  });
  if (recordingsProblem !== undefined) problems.push(recordingsProblem);
  const store = await openStore(config, { databasePath, prices, options }, problems);

  if (problems.length > 0) {
    store?.close();
    throw new StartupError(problems);
  }
  return {
    config: { ...config, publicBaseUrl: publicBaseUrl! },
    publicUrlSource,
    inboundPersonaSource,
    personas: personas!,
    requiredPersonas: required,
    store: store!,
    databasePath,
    prices: prices!,
  };
}

/**
 * Loads the personas and checks that the ones the configuration names exist; decides who answers
 * inbound calls (and sets `config.inboundPersona` to it).
 */
async function checkPersonas(config: ParleyConfig, env: Env, problems: string[]): Promise<{
  personas: ReloadablePersonaRegistry | undefined;
  inboundPersonaSource: InboundPersonaSource;
  required: ReturnType<typeof requiredPersonas>;
}> {
  let personas: ReloadablePersonaRegistry | undefined;
  let personaIds: string[] = [];
  try {
    // Personas that name no model run on OPENAI_REALTIME_MODEL's engine: checked against it.
    personas = createPersonaRegistry(
      await loadPersonas(config.personasDir, { defaultModel: config.realtimeModel }),
    );
    personaIds = personas.ids();
  } catch (error) {
    if (!(error instanceof PersonaLoadError)) throw error;
    problems.push(...error.problems);
    personaIds = error.foundIds;
  }
  // INBOUND_PERSONA unset and no receptionist (a folder of one's own personas): DEFAULT_PERSONA answers.
  const inboundPersonaSource = inboundPersonaSourceOf(Boolean(env.INBOUND_PERSONA?.trim()), personaIds);
  if (inboundPersonaSource === "DEFAULT_PERSONA") config.inboundPersona = config.defaultPersona;
  const required = requiredPersonas(config, inboundPersonaSource);
  if (personas !== undefined || personaIds.length > 0) {
    problems.push(...missingPersonas(personaIds, required, config.personasDir));
  }
  return { personas, inboundPersonaSource, required };
}

/** PUBLIC_BASE_URL, else the ngrok tunnel's, else (with no Twilio variable) browser-only mode. */
async function resolvePublicUrl(
  config: ParleyConfig,
  env: Env,
  options: PrepareStartupOptions,
  problems: string[],
): Promise<{ publicBaseUrl: string | undefined; publicUrlSource: PublicUrlSource }> {
  let publicBaseUrl = config.publicBaseUrl;
  let publicUrlSource: PublicUrlSource = publicBaseUrl === undefined ? "ngrok" : "PUBLIC_BASE_URL";
  publicBaseUrl ??= await discoverNgrokUrl(config.ngrokApiUrl, {
    port: config.port,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  if (publicBaseUrl === undefined && TWILIO_VARIABLES.every((name) => !env[name]?.trim())) {
    // Browser-only mode: the softphone needs neither Twilio nor a public URL. The pages' origin check
    // accepts the request's own origin; Twilio's requests are refused (no TWILIO_AUTH_TOKEN).
    publicUrlSource = "none";
    publicBaseUrl = `http://localhost:${config.port}`;
  } else if (publicBaseUrl === undefined) {
    problems.push(
      `PUBLIC_BASE_URL: not set, and no ngrok tunnel was found at ${config.ngrokApiUrl}: start one in ` +
        `another terminal (ngrok http ${config.port}) or set PUBLIC_BASE_URL=https://<your public host> in .env ` +
        `(with no TWILIO_* variable set either, Parley starts in browser-only mode: the softphone only)`,
    );
  }
  return { publicBaseUrl, publicUrlSource };
}

/**
 * Opens the store (Postgres with DATABASE_URL, else SQLite in DATA_DIR) when nothing is wrong so far;
 * otherwise creates nothing, but reports a DATA_DIR that cannot be a folder too.
 */
async function openStore(
  config: ParleyConfig,
  where: { databasePath: string; prices: PriceTable | undefined; options: PrepareStartupOptions },
  problems: string[],
): Promise<Store | undefined> {
  const { databasePath, prices, options } = where;
  const storeOptions = {
    instance: config.instanceId,
    ...(prices === undefined ? {} : { prices }),
    ...(options.onStoreError === undefined ? {} : { onError: options.onStoreError }),
  };
  if (problems.length > 0) {
    // Refusing to start: nothing is created on disk, but a DATA_DIR that cannot be a folder is reported too.
    const dataDirProblem = config.databaseUrl === undefined
      ? checkDataDir(config.dataDir, databasePath)
      : undefined;
    if (dataDirProblem !== undefined) problems.push(dataDirProblem);
    return undefined;
  }
  if (config.databaseUrl !== undefined) {
    try {
      // Loaded only with DATABASE_URL: on SQLite, a start (and each --watch restart) skips the driver.
      const { openPostgresStore } = await import("./store/postgres/store.ts");
      return await openPostgresStore(config.databaseUrl, {
        ...storeOptions,
        instanceTimeoutMs: config.instanceTimeoutS * 1000,
      });
    } catch (error) {
      // The message names DATABASE_URL and the host, never the password.
      problems.push(errorText(error));
      return undefined;
    }
  }
  try {
    return openSqliteStore(databasePath, storeOptions);
  } catch (error) {
    problems.push(callDatabaseProblem(databasePath, errorText(error)));
    return undefined;
  }
}

/**
 * The `PORT` problem line when Parley cannot listen on `port` (busy, or privileged), else undefined.
 * Used both before listening and when `Deno.serve` itself fails.
 */
export function checkPortFree(port: number, host = "0.0.0.0"): string | undefined {
  try {
    Deno.listen({ hostname: host, port }).close();
    return undefined;
  } catch (error) {
    return portProblem(port, error, host);
  }
}

/** The `PORT` (or `HOST`) problem line for a failure to listen on `host:port`. */
export function portProblem(port: number, error: unknown, host = "0.0.0.0"): string {
  if (error instanceof Deno.errors.AddrInUse) {
    return `PORT: ${port} is already in use (another Parley, or another program): stop it, or set PORT ` +
      "to a free port in .env";
  }
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
    return `PORT: cannot listen on ${port}: ${error.message}: use a port above 1023`;
  }
  const detail = errorText(error);
  return `HOST: cannot listen on ${host} (port ${port}): ${detail}: set HOST to one of this machine's ` +
    "addresses, 0.0.0.0 (every interface) or 127.0.0.1 (this machine only)";
}
