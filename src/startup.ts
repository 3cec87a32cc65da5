/**
 * Everything Parley checks before it listens: the configuration, the personas, the public URL, the
 * port and the data folder. Every problem found is reported in one {@linkcode StartupError}, so a
 * newcomer fixes `.env` in one pass instead of one restart per mistake.
 *
 * @module
 */

import { checkConfig, type Env, type ParleyConfig } from "./config.ts";
import {
  createPersonaRegistry,
  loadPersonas,
  missingPersonas,
  PersonaLoadError,
  type ReloadablePersonaRegistry,
  type RequiredPersona,
} from "./personas/loader.ts";
import type { ServerConfig } from "./server.ts";
import { callDatabasePath } from "./store/sqlite/call_store.ts";
import type { Store } from "./store/ports.ts";
import { openSqliteStore } from "./store/sqlite/store.ts";
import { describeDatabaseUrl, openPostgresStore } from "./store/postgres/store.ts";
import { type PriceTable, resolvePrices } from "./engines/prices.ts";
import { discoverNgrokUrl } from "./twilio/ngrok.ts";

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

/** What Parley runs with once every check passed. */
export interface PreparedStartup {
  config: ServerConfig;
  /** Where the public URL came from. */
  publicUrlSource: "PUBLIC_BASE_URL" | "ngrok";
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

/** The personas the configuration names: DEFAULT_PERSONA (outbound) and INBOUND_PERSONA. */
export function requiredPersonas(config: Pick<ParleyConfig, "defaultPersona" | "inboundPersona">) {
  return [
    { variable: "DEFAULT_PERSONA", id: config.defaultPersona },
    { variable: "INBOUND_PERSONA", id: config.inboundPersona },
  ];
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

  let personas: ReloadablePersonaRegistry | undefined;
  let personaIds: string[] = [];
  try {
    personas = createPersonaRegistry(await loadPersonas(config.personasDir));
    personaIds = personas.ids();
  } catch (error) {
    if (!(error instanceof PersonaLoadError)) throw error;
    problems.push(...error.problems);
    personaIds = error.foundIds;
  }
  const required = requiredPersonas(config);
  if (personas !== undefined || personaIds.length > 0) {
    problems.push(...missingPersonas(personaIds, required, config.personasDir));
  }

  let publicBaseUrl = config.publicBaseUrl;
  const publicUrlSource = publicBaseUrl === undefined ? "ngrok" : "PUBLIC_BASE_URL";
  publicBaseUrl ??= await discoverNgrokUrl(config.ngrokApiUrl, {
    port: config.port,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  if (publicBaseUrl === undefined) {
    problems.push(
      `PUBLIC_BASE_URL: not set, and no ngrok tunnel was found at ${config.ngrokApiUrl}: start one in ` +
        `another terminal (ngrok http ${config.port}) or set PUBLIC_BASE_URL=https://<your public host> in .env`,
    );
  }

  // A bad PORT was replaced by the default: probing that would report a port the user never chose.
  const portProblem = problems.some((p) => p.startsWith("PORT:")) ? undefined : checkPortFree(config.port);
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
  let store: Store | undefined;
  const storeOptions = {
    instance: config.instanceId,
    ...(prices === undefined ? {} : { prices }),
    ...(options.onStoreError === undefined ? {} : { onError: options.onStoreError }),
  };
  if (config.databaseUrl !== undefined) {
    try {
      store = await openPostgresStore(config.databaseUrl, storeOptions);
    } catch (error) {
      // The message names DATABASE_URL and the host, never the password.
      problems.push(error instanceof Error ? error.message : String(error));
    }
  } else {
    try {
      store = openSqliteStore(databasePath, storeOptions);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      problems.push(
        `DATA_DIR: cannot open the call database "${databasePath}": ${detail}: set DATA_DIR to a folder ` +
          "Parley can write (it is created if missing)",
      );
    }
  }

  if (problems.length > 0) {
    store?.close();
    throw new StartupError(problems);
  }
  return {
    config: { ...config, publicBaseUrl: publicBaseUrl! },
    publicUrlSource,
    personas: personas!,
    requiredPersonas: required,
    store: store!,
    databasePath,
    prices: prices!,
  };
}

/**
 * The `PORT` problem line when Parley cannot listen on `port` (busy, or privileged), else undefined.
 * Used both before listening and when `Deno.serve` itself fails.
 */
export function checkPortFree(port: number): string | undefined {
  if (port === 0) return undefined;
  try {
    Deno.listen({ hostname: "0.0.0.0", port }).close();
    return undefined;
  } catch (error) {
    return portProblem(port, error);
  }
}

/** The `PORT` problem line for a failure to listen on `port`; rethrows anything else. */
export function portProblem(port: number, error: unknown): string {
  if (error instanceof Deno.errors.AddrInUse) {
    return `PORT: ${port} is already in use (another Parley, or another program): stop it, or set PORT ` +
      "to a free port in .env";
  }
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
    return `PORT: cannot listen on ${port}: ${error.message}: use a port above 1023`;
  }
  throw error;
}
