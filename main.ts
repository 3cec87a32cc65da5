/**
 * Parley's entry point: configuration → personas → server → signals.
 *
 * Run with `deno task dev` (watch mode, reloads personas on change) or `deno task start`.
 *
 * @module
 */

import { startupBanner } from "./src/banner.ts";
import { CallHub, createRelayCounters } from "./src/calls/call_events.ts";
import { ConfigError, loadConfig, readEnv } from "./src/config.ts";
import { createLogger } from "./src/log.ts";
import { createPersonaRegistry, loadPersonas, PersonaLoadError } from "./src/personas/loader.ts";
import { watchPersonas } from "./src/personas/watch.ts";
import { createParley } from "./src/server.ts";
import { callDatabasePath, openCallStore } from "./src/store/call_store.ts";
import { resolvePrices } from "./src/store/prices.ts";
import { discoverNgrokUrl } from "./src/twilio/ngrok.ts";
import { waitForShutdown } from "./src/shutdown.ts";

/**
 * Starts Parley; resolves with the signal that stopped it, once every call has ended (drained)
 * after SIGINT or SIGTERM. Exits 1 on a setup problem.
 */
export async function main(args: string[]): Promise<Deno.Signal> {
  const fail = (message: string): never => {
    console.error(`❌ ${message}`);
    Deno.exit(1);
  };

  let config;
  try {
    config = loadConfig(readEnv());
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }

  let publicBaseUrl = config.publicBaseUrl;
  const publicUrlSource = publicBaseUrl === undefined ? "ngrok" : "PUBLIC_BASE_URL";
  publicBaseUrl ??= await discoverNgrokUrl(config.ngrokApiUrl, { port: config.port });
  if (publicBaseUrl === undefined) {
    fail(
      `PUBLIC_BASE_URL is not set and no ngrok tunnel was found at ${config.ngrokApiUrl}.\n` +
        `   Start one in another terminal: ngrok http ${config.port}\n` +
        `   or set PUBLIC_BASE_URL=https://<your public host> in .env`,
    );
  }

  let personas;
  try {
    personas = createPersonaRegistry(await loadPersonas(config.personasDir));
  } catch (error) {
    if (error instanceof PersonaLoadError) fail(error.message);
    throw error;
  }
  if (personas.get(config.defaultPersona) === undefined) {
    fail(
      `DEFAULT_PERSONA: "${config.defaultPersona}" names no persona in ${config.personasDir} ` +
        `(found: ${personas.ids().join(", ")})`,
    );
  }

  const prices = resolvePrices(config.pricesJson); // already checked by loadConfig
  const databasePath = callDatabasePath(config.dataDir);
  const log = createLogger({ secrets: [config.openaiApiKey, config.twilioAuthToken, config.apiToken] });
  // Through the logger, so the store's reports are escaped and scrubbed like every other line.
  const store = openCallStore(databasePath, {
    prices,
    onError: (message) => log.error(message.replace(/^\[Realtime\] /, "")),
  });
  const abandoned = store.closeAbandonedRecords(
    "server_crashed",
    "the server stopped during the call (crash or kill): closed at its last event on the next start",
  );
  if (abandoned.length > 0) {
    log.warn(
      `Closed ${abandoned.length} call record(s) the previous run left open (reason=server_crashed): ` +
        `${abandoned.slice(0, 5).join(", ")}${abandoned.length > 5 ? ", …" : ""}`,
    );
  }
  const serverConfig = { ...config, publicBaseUrl: publicBaseUrl! };
  const parley = createParley({
    config: serverConfig,
    personas,
    log,
    hub: new CallHub(),
    counters: createRelayCounters(),
    store,
    prices,
  });

  const watchingPersonas = args.includes("--watch-personas");
  const watcher = watchingPersonas
    ? watchPersonas(config.personasDir, {
      registry: personas,
      onReload: (ids) => log.info(`Personas reloaded: ${ids.join(", ")}`),
      onError: (error) => {
        for (const line of `${error.message}\n(keeping the personas loaded before)`.split("\n")) {
          log.error(line);
        }
      },
    })
    : undefined;

  // Listening for signals before the banner says we are up: a signal from then on drains.
  const stopped = waitForShutdown(parley, { log, drainTimeoutS: config.drainTimeoutS });
  const server = Deno.serve({
    port: config.port,
    hostname: "0.0.0.0",
    onListen: ({ port }) => {
      const banner = startupBanner({
        config: serverConfig,
        port,
        publicUrlSource,
        personaIds: personas.ids(),
        databasePath,
        watchingPersonas,
      });
      for (const line of banner) console.log(line);
    },
  }, parley.handler);

  const { signal } = await stopped;
  watcher?.close();
  await server.shutdown();
  store.close();
  return signal;
}

if (import.meta.main) {
  const signal = await main(Deno.args);
  if (Deno.args.includes("--watch-personas")) {
    // Under `deno task dev`, Deno's --watch restarts a script that exits by itself and would keep
    // running; our listeners are gone, so the signal raised again ends the process for good.
    Deno.kill(Deno.pid, signal);
  }
  Deno.exit(0);
}
