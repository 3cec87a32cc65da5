/**
 * Parley's entry point: configuration → personas → server → signals.
 *
 * Run with `deno task dev` (watch mode, reloads personas on change) or `deno task start`.
 *
 * @module
 */

import { startupBanner } from "./src/banner.ts";
import { CallHub, createRelayCounters } from "./src/calls/call_events.ts";
import { readEnv } from "./src/config.ts";
import { createLogger } from "./src/log.ts";
import { watchPersonas } from "./src/personas/watch.ts";
import { createParley } from "./src/server.ts";
import { portProblem, prepareStartup, StartupError } from "./src/startup.ts";

/** Starts Parley; resolves when it has stopped after SIGINT or SIGTERM. Exits 1 on a setup problem. */
export async function main(args: string[]): Promise<void> {
  const fail = (message: string): never => {
    console.error(`❌ ${message}`);
    Deno.exit(1);
  };

  let prepared;
  try {
    prepared = await prepareStartup(readEnv());
  } catch (error) {
    if (error instanceof StartupError) fail(error.message);
    throw error;
  }
  const { config, personas, store, databasePath, prices } = prepared!;

  const log = createLogger({ secrets: [config.openaiApiKey, config.twilioAuthToken, config.apiToken] });
  const parley = createParley({
    config,
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
      required: prepared!.requiredPersonas,
      onReload: (ids) => log.info(`Personas reloaded: ${ids.join(", ")}`),
      onError: (error) => log.error(`${error.message}\n(keeping the personas loaded before)`),
      onWarning: (message) => log.warn(message),
    })
    : undefined;

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      port: config.port,
      hostname: "0.0.0.0",
      onListen: ({ port }) => {
        const banner = startupBanner({
          config,
          port,
          publicUrlSource: prepared!.publicUrlSource,
          personaIds: personas.ids(),
          databasePath,
          watchingPersonas,
        });
        for (const line of banner) console.log(line);
      },
    }, parley.handler);
  } catch (error) {
    // Taken between the check and now: the same one line as the check gives.
    watcher?.close();
    store.close();
    fail(portProblem(config.port, error));
  }

  const stop = async () => {
    log.info("Shutting down: ending active calls");
    watcher?.close();
    await parley.shutdown();
    await server.shutdown();
    store.close();
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
