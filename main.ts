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
import { openLeadStore } from "./src/store/leads.ts";
import { resolvePrices } from "./src/store/prices.ts";
import { discoverNgrokUrl } from "./src/twilio/ngrok.ts";

/** Starts Parley; resolves when it has stopped after SIGINT or SIGTERM. Exits 1 on a setup problem. */
export async function main(args: string[]): Promise<void> {
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
  const store = openCallStore(databasePath, { prices });
  const leads = openLeadStore(databasePath);
  const log = createLogger({ secrets: [config.openaiApiKey, config.twilioAuthToken, config.apiToken] });
  const serverConfig = { ...config, publicBaseUrl: publicBaseUrl! };
  const parley = createParley({
    config: serverConfig,
    personas,
    log,
    hub: new CallHub(),
    counters: createRelayCounters(),
    store,
    leads,
    prices,
  });

  const watchingPersonas = args.includes("--watch-personas");
  const watcher = watchingPersonas
    ? watchPersonas(config.personasDir, {
      registry: personas,
      onReload: (ids) => log.info(`Personas reloaded: ${ids.join(", ")}`),
      onError: (error) => log.error(`${error.message}\n(keeping the personas loaded before)`),
    })
    : undefined;

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

  const stop = async () => {
    log.info("Shutting down: ending active calls");
    watcher?.close();
    await parley.shutdown();
    await server.shutdown();
    store.close();
    leads.close();
  };
  const stopping = new Promise<void>((resolve) => {
    const onSignal = () => stop().then(resolve);
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
  });
  await stopping;
}

if (import.meta.main) {
  await main(Deno.args);
  Deno.exit(0);
}
