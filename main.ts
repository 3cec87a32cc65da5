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
import { createLogger, escapeLogText, type Logger } from "./src/log.ts";
import { watchPersonas } from "./src/personas/watch.ts";
import { createParley } from "./src/server.ts";
import { portProblem, prepareStartup, StartupError } from "./src/startup.ts";
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

  // The store opens during the checks, before the logger (which needs the secrets they resolve):
  // its reports reach the logger once there is one, so they are escaped and scrubbed like every line.
  const storeReports: { log?: Logger } = {};
  const onStoreError = (message: string) => {
    const text = message.replace(/^\[Realtime\] /, "");
    if (storeReports.log === undefined) console.error(`[Realtime] ${escapeLogText(text)}`);
    else storeReports.log.error(text);
  };
  let prepared;
  try {
    prepared = await prepareStartup(readEnv(), { onStoreError });
  } catch (error) {
    if (error instanceof StartupError) fail(error.message);
    throw error;
  }
  const { config, personas, store, databasePath, prices } = prepared!;
  const log = createLogger({ secrets: [config.openaiApiKey, config.twilioAuthToken, config.apiToken] });
  storeReports.log = log;

  const abandoned = await store.calls.closeAbandonedRecords(
    "server_crashed",
    "the server stopped during the call (crash or kill): closed at its last event on the next start",
  );
  if (abandoned.length > 0) {
    log.warn(
      `Closed ${abandoned.length} call record(s) the previous run left open ` +
        `(reason=server_crashed, INSTANCE_ID=${config.instanceId}): ` +
        `${abandoned.slice(0, 5).join(", ")}${abandoned.length > 5 ? ", …" : ""}`,
    );
  }
  const parley = createParley({
    config,
    personas,
    log,
    hub: new CallHub(),
    counters: createRelayCounters(),
    store: store.calls,
    afterStream: store.afterStream,
    leads: store.leads,
    signInSessions: store.sessions,
    usedStreamTokens: store.usedStreamTokens,
    ...(store.bus === undefined ? {} : { feeds: store.bus }),
    prices,
  });

  const watchingPersonas = args.includes("--watch-personas");
  const watcher = watchingPersonas
    ? watchPersonas(config.personasDir, {
      registry: personas,
      required: prepared!.requiredPersonas,
      onReload: (ids) => log.info(`Personas reloaded: ${ids.join(", ")}`),
      onError: (error) => {
        for (const line of `${error.message}\n(keeping the personas loaded before)`.split("\n")) {
          log.error(line); // the logger escapes line breaks: one line at a time
        }
      },
      onWarning: (message) => {
        for (const line of message.split("\n")) log.warn(line);
      },
    })
    : undefined;

  // Listening for signals before the banner says we are up: a signal from then on drains.
  const stopped = waitForShutdown(parley, { log, drainTimeoutS: config.drainTimeoutS });
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
    return fail(portProblem(config.port, error));
  }

  const { signal } = await stopped;
  watcher?.close();
  await server.shutdown();
  store.close();
  await store.closed;
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
