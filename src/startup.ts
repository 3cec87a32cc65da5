/**
 * Everything Parley checks before it listens: the configuration, the personas, the public URL, the
 * port and the data folder. Every problem found is reported in one {@linkcode StartupError}, so a
 * newcomer fixes `.env` in one pass instead of one restart per mistake.
 *
 * @module
 */

import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { checkConfig, type ParleyConfig } from "./config.ts";
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
 * The personas the configuration names: DEFAULT_PERSONA (outbound) and, when set or when it is
 * `receptionist` by default, INBOUND_PERSONA.
 */
export function requiredPersonas(
  config: Pick<ParleyConfig, "defaultPersona" | "inboundPersona">,
  inboundFrom: InboundPersonaSource = "INBOUND_PERSONA",
): RequiredPersona[] {
  const outbound = { variable: "DEFAULT_PERSONA", id: config.defaultPersona };
  if (inboundFrom === "DEFAULT_PERSONA") return [outbound];
  return [outbound, { variable: "INBOUND_PERSONA", id: config.inboundPersona }];
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
  const inboundPersonaSource: InboundPersonaSource = env.INBOUND_PERSONA?.trim()
    ? "INBOUND_PERSONA"
    : personaIds.includes(config.inboundPersona)
    ? "receptionist"
    : "DEFAULT_PERSONA";
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
 * The problem line for a call database that cannot be opened at `databasePath` (`why`: the error, or
 * what is in the way), naming DATA_DIR and what to do: the server's start, its check before opening,
 * and `deno task rehearse`'s in-process Parley.
 */
export function callDatabaseProblem(databasePath: string, why: string): string {
  return `DATA_DIR: cannot open the call database "${databasePath}": ${why}: ` +
    "set DATA_DIR to a folder Parley can write (it is created if missing)";
}

/**
 * The `DATA_DIR` problem line when the call database could not be made there (the folder, or the
 * nearest one above it that exists, is a file), else undefined. Creates nothing: a missing folder is
 * made when a start passes every check.
 */
function checkDataDir(dataDir: string, databasePath: string): string | undefined {
  let path = resolve(dataDir);
  for (;;) {
    try {
      if (Deno.statSync(path).isDirectory) return undefined;
      return callDatabaseProblem(databasePath, `"${path}" is a file, not a folder`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) && !(error instanceof Deno.errors.NotADirectory)) {
        return undefined; // permission problems show when the database opens
      }
      const parent = dirname(path);
      if (parent === path) return undefined;
      path = parent;
    }
  }
}

/**
 * The `RECORDINGS_DIR` problem line for a recordings folder `dir` that cannot be used (`why`: the
 * error, or what is in the way), naming the variable and what to do; `unset`: RECORDINGS_DIR is not
 * set (the folder is DATA_DIR's).
 */
function recordingsDirProblem(dir: string, why: string, unset = false): string {
  const where = unset ? "unset, it is DATA_DIR/recordings; " : "";
  return `RECORDINGS_DIR: cannot keep recordings in "${dir}": ${why}: set RECORDINGS_DIR to a folder ` +
    `Parley can write (${where}it is created on the first recording)`;
}

/**
 * The `RECORDINGS_DIR` problem line when the startup repair of the recordings a crash left in `dir`
 * failed (`error`: a sidecar that is not JSON names its file; the folder replaced since the check).
 */
export function recordingsRepairProblem(dir: string, error: unknown): string {
  const why = errorText(error).replace(/\s+/g, " ").slice(0, 300);
  return `RECORDINGS_DIR: cannot repair the recordings the last run left in "${dir}": ${why}: fix or remove ` +
    "what it names, or set RECORDINGS_DIR to another folder";
}

/**
 * The `RECORDINGS_DIR` problem line when the recordings folder `dir` cannot be read (the startup
 * repair lists it) or made (it, or the nearest folder above it that exists, is a file), else
 * undefined. Creates nothing. `unset`: RECORDINGS_DIR is not set (the folder is in DATA_DIR);
 * `dataDir`: a file at or above it is left to DATA_DIR's own problem.
 */
function checkRecordingsDir(dir: string, where: { unset: boolean; dataDir?: string }): string | undefined {
  const problem = (why: string) => recordingsDirProblem(dir, why, where.unset);
  const folder = resolve(dir);
  const dataDir = where.dataDir === undefined ? undefined : resolve(where.dataDir);
  // What is wrong at DATA_DIR or above it is DATA_DIR's problem: the call database's check names it.
  const dataDirs = (path: string) => {
    const below = dataDir === undefined ? undefined : relative(path, dataDir);
    return below !== undefined && below !== ".." && !below.startsWith(`..${sep}`) && !isAbsolute(below);
  };
  let path = folder;
  for (;;) {
    try {
      if (!Deno.statSync(path).isDirectory) {
        return dataDirs(path) ? undefined : problem(`"${path}" is a file, not a folder`);
      }
      // The folder itself is listed by the startup repair; a missing one is made on the first recording.
      if (path === folder) Deno.readDirSync(path)[Symbol.iterator]().next();
      return undefined;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) && !(error instanceof Deno.errors.NotADirectory)) {
        // PermissionDenied: the OS refuses. NotCapable: Deno does (under /dev, /proc or /sys).
        return dataDirs(path) ? undefined : problem(errorText(error));
      }
      const parent = dirname(path);
      if (parent === path) return undefined;
      path = parent;
    }
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
