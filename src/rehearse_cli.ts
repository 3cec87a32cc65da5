/**
 * `deno task rehearse [scenario…] [--runs=N] [--url=URL] [--concurrency=N] [--dir=scenarios]`: runs
 * scenario files through Parley's real call path and prints pass rates, failed checks with links to
 * their calls, latency and cost. Exits 0 when every scenario reached its `minPassRate`, 1 when one
 * did not, 2 when the rehearsal could not run (a broken scenario file, a bad setting).
 *
 * Without `--url` it starts Parley itself on 127.0.0.1 (a free port) with the personas of
 * PERSONAS_DIR and the call database of DATA_DIR, so the calls are on the call pages afterwards. It
 * needs only OPENAI_API_KEY: no Twilio account, no public URL (the virtual phone signs as Twilio with
 * a token made up for the run). With `--url` it calls a running Parley, signing with its
 * TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL and reading records with API_TOKEN from the environment.
 *
 * @module
 */

import { createRelayCounters } from "./calls/relay_counters.ts";
import { CallHub } from "./calls/call_hub.ts";
import { ConfigError, configSecrets, loadConfig, type ParleyConfig } from "./config.ts";
import { type Env, readEnv } from "./config_env.ts";
import { resolvePrices } from "./engines/prices.ts";
import { createLogger, errorText } from "./log.ts";
import { callDatabaseProblem } from "./startup_folders.ts";
import { createPersonaRegistry, loadPersonas, PersonaLoadError } from "./personas/loader.ts";
import {
  DEFAULT_SCENARIOS_DIR,
  loadScenarios,
  scenarioFiles,
  ScenarioLoadError,
} from "./rehearsal/loader.ts";
import { formatReport, summarize } from "./rehearsal/report.ts";
import { runRehearsals, type RunResult } from "./rehearsal/runner.ts";
import { rehearsalSetup, scenarioContext } from "./rehearsal/setup.ts";
import type { ScenarioContext } from "./rehearsal/validate.ts";
import { apiHeaders } from "./rehearsal/phone_requests.ts";
import type { ParleyTarget } from "./rehearsal/virtual_phone.ts";
import { createParley } from "./app/server.ts";
import { callDatabasePath } from "./store/sqlite/call_store.ts";
import { openSqliteStore } from "./store/sqlite/store.ts";
import { RecordingsDir } from "./recordings/recordings_dir.ts";
import { S3Recordings } from "./recordings/s3_recordings.ts";

/** The public URL the in-process Parley pretends to have: the virtual phone signs for it. */
export const LOCAL_PUBLIC_URL = "https://rehearsal.localhost";

/** The command line, read. */
export interface RehearseArgs {
  scenarios: string[];
  runs: number | undefined;
  url: string | undefined;
  concurrency: number | undefined;
  dir: string;
  verbose: boolean;
}

/** Reads the command line; throws a plain-words error for a bad flag. */
export function parseRehearseArgs(args: readonly string[]): RehearseArgs {
  const parsed: RehearseArgs = {
    scenarios: [],
    runs: undefined,
    url: undefined,
    concurrency: undefined,
    dir: DEFAULT_SCENARIOS_DIR,
    verbose: false,
  };
  const count = (flag: string, value: string, max: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) {
      throw new Error(`${flag}: "${value}" is not a whole number from 1 to ${max}`);
    }
    return n;
  };
  for (const arg of args) {
    const [flag, value = ""] = arg.startsWith("--")
      ? [arg.split("=")[0]!, arg.slice(arg.indexOf("=") + 1)]
      : [arg];
    if (!arg.startsWith("--")) parsed.scenarios.push(arg);
    else if (flag === "--runs") parsed.runs = count(flag, value, 100);
    else if (flag === "--concurrency") parsed.concurrency = count(flag, value, 20);
    else if (flag === "--url") parsed.url = value.replace(/\/+$/, "");
    else if (flag === "--dir") parsed.dir = value;
    else if (flag === "--verbose") parsed.verbose = true;
    else {throw new Error(
        `${flag}: unknown flag; use --runs=N, --url=URL, --concurrency=N, --dir=FOLDER or --verbose`,
      );}
  }
  return parsed;
}

/** Runs the rehearsal; resolves with the exit code. */
export async function rehearse(args: RehearseArgs, env: Env): Promise<number> {
  let config: ParleyConfig;
  try {
    config = loadConfig(args.url === undefined ? localEnv(env) : env);
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message);
    throw error;
  }
  const prices = resolvePrices(config.pricesJson);
  let local: Awaited<ReturnType<typeof startLocalParley>> | undefined;
  try {
    local = args.url === undefined ? await startLocalParley(config, prices, args.verbose) : undefined;
  } catch (error) {
    // The personas or DATA_DIR it cannot use: named, like the server's start does.
    if (error instanceof PersonaLoadError || error instanceof DataDirError) return fail(error.message);
    throw error;
  }
  try {
    let target: ParleyTarget;
    let context: ScenarioContext;
    if (local !== undefined) {
      target = local.target;
      context = local.context;
    } else {
      if (config.twilioAuthToken === undefined) {
        return fail("TWILIO_AUTH_TOKEN: not set: --url needs the running Parley's token to sign its calls");
      }
      target = {
        origin: args.url!,
        publicBaseUrl: config.publicBaseUrl ?? args.url!,
        authToken: config.twilioAuthToken,
        apiToken: config.apiToken,
      };
      context = await remoteContext(target, config.realtimeModel);
    }
    const scenarios = await loadScenarios(await scenarioFiles(args.dir, args.scenarios), context);
    // The calls are in DATA_DIR: the user's own Parley shows them at its URL.
    const linkBaseUrl = args.url ?? env.PUBLIC_BASE_URL?.replace(/\/+$/, "") ??
      `http://localhost:${config.port}`;
    const setup = rehearsalSetup(config, { target, linkBaseUrl, prices });
    const runs = scenarios.reduce((n, s) => n + (args.runs ?? s.scenario.runs ?? 3), 0);
    console.log(
      `Rehearsing ${scenarios.length} scenario(s), ${runs} call(s), against ${
        args.url ?? "a Parley started here"
      }…`,
    );
    const results = await runRehearsals(scenarios, {
      ...setup,
      ...(args.runs === undefined ? {} : { runs: args.runs }),
      ...(args.concurrency === undefined ? {} : { concurrency: args.concurrency }),
      onRun: (result) => console.log(runLine(result)),
    });
    const report = summarize(scenarios, results);
    console.log(`\n${formatReport(report)}`);
    return report.passed ? 0 : 1;
  } catch (error) {
    if (error instanceof ScenarioLoadError || error instanceof PersonaLoadError) return fail(error.message);
    if (error instanceof Error && error.name === "RemoteError") return fail(error.message);
    throw error;
  } finally {
    await local?.close();
  }
}

/**
 * The environment of the in-process Parley: the user's, with its own signing and API tokens, and
 * without the Twilio account (it places no call, so `.env.example`'s placeholders there are harmless).
 */
function localEnv(env: Env): Env {
  const {
    TWILIO_SIGNATURE_CHECK: _check,
    NGROK_API_URL: _ngrok,
    TWILIO_ACCOUNT_SID: _account,
    TWILIO_PHONE_NUMBER: _number,
    ...rest
  } = env;
  return {
    ...rest,
    PUBLIC_BASE_URL: LOCAL_PUBLIC_URL,
    TWILIO_AUTH_TOKEN: crypto.randomUUID(),
    API_TOKEN: env.API_TOKEN ?? crypto.randomUUID(),
  };
}

async function startLocalParley(
  config: ParleyConfig,
  prices: ReturnType<typeof resolvePrices>,
  verbose: boolean,
) {
  const personas = createPersonaRegistry(
    await loadPersonas(config.personasDir, { defaultModel: config.realtimeModel }),
  );
  // An instance name of its own: a server started on the same DATA_DIR closes only its own open
  // records at startup, never a rehearsal's still running; and the rehearsal's workers (analyses,
  // webhooks) claim and put back only their own work, never the server's in flight.
  const instanceId = `${config.instanceId.slice(0, 90)}.rehearse`;
  const databasePath = callDatabasePath(config.dataDir);
  let store: ReturnType<typeof openSqliteStore>;
  try {
    store = openSqliteStore(databasePath, { instance: instanceId, prices });
  } catch (error) {
    throw new DataDirError(callDatabaseProblem(databasePath, errorText(error)), { cause: error });
  }
  const log = createLogger({
    secrets: configSecrets(config),
    sink: (level, line) => {
      if (verbose || level === "warn" || level === "error") console.error(line);
    },
  });
  // Personas with `record: true` are recorded as the server records them: RECORDINGS_DIR, then the
  // bucket of RECORDINGS_S3_URL when set (uploads finish before the rehearsal exits).
  const recordings = new RecordingsDir(config.recordingsDir);
  const bucket = config.recordingsS3 === undefined
    ? undefined
    : new S3Recordings(config.recordingsS3, recordings, log);
  const uploads: Promise<void>[] = [];
  if (bucket !== undefined) {
    recordings.onFinished = (info) => {
      const upload = bucket.upload(info);
      uploads.push(upload);
      return upload;
    };
  }
  const parley = createParley({
    config: { ...config, instanceId, publicBaseUrl: LOCAL_PUBLIC_URL },
    personas,
    log,
    hub: new CallHub((message) => log.error(message)),
    counters: createRelayCounters(),
    store: store.calls,
    afterStream: store.afterStream,
    usedStreamTokens: store.usedStreamTokens,
    // Personas with `analysis` get their outcome, which the scenarios' `outcome` checks read.
    ...(store.analyses === undefined ? {} : { analyses: store.analyses }),
    prices,
    recordings,
    ...(bucket === undefined ? {} : { recordingSource: bucket }),
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, parley.handler);
  return {
    target: {
      origin: `http://127.0.0.1:${server.addr.port}`,
      publicBaseUrl: LOCAL_PUBLIC_URL,
      authToken: config.twilioAuthToken!,
      apiToken: config.apiToken,
    } satisfies ParleyTarget,
    context: scenarioContext(personas, config.realtimeModel),
    async close() {
      await parley.shutdown(); // the recordings' last writes included
      await Promise.all(uploads);
      await server.shutdown();
      store.close();
    },
  };
}

/** The personas of a running Parley (`GET /api/personas`). */
async function remoteContext(target: ParleyTarget, defaultModel: string): Promise<ScenarioContext> {
  const headers = apiHeaders(target);
  let response: Response;
  try {
    response = await fetch(`${target.origin}/api/personas`, { headers });
  } catch (error) {
    throw remoteError(
      `--url: cannot reach ${target.origin}: ${error instanceof Error ? error.message : error}`,
    );
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw remoteError(
      `--url: GET /api/personas answered ${response.status}: check API_TOKEN is the running Parley's`,
    );
  }
  const list = (body.personas ?? []) as { id: string; model?: string }[];
  return {
    personaIds: list.map((p) => p.id),
    defaultModel,
    personaModel: (id) => list.find((p) => p.id === id)?.model,
  };
}

function remoteError(message: string): Error {
  const error = new Error(message);
  error.name = "RemoteError";
  return error;
}

function runLine(result: RunResult): string {
  const failed = result.checks.filter((c) => c.status === "failed").map((c) => c.name);
  return `  ${result.passed ? "✔" : "✘"} ${result.scenario} run ${result.run}` +
    (result.callSid === undefined ? "" : ` (${result.callSid})`) +
    (failed.length === 0 ? "" : `: failed ${failed.join(", ")}`);
}

/** DATA_DIR cannot hold the rehearsal's call database: the message names it and what to do. */
class DataDirError extends Error {
  override name = "DataDirError";
}

function fail(message: string): number {
  console.error(`❌ ${message}`);
  return 2;
}

if (import.meta.main) {
  let args: RehearseArgs;
  try {
    args = parseRehearseArgs(Deno.args);
  } catch (error) {
    console.error(`❌ ${(error as Error).message}`);
    Deno.exit(2);
  }
  Deno.exit(await rehearse(args!, readEnv()));
}
