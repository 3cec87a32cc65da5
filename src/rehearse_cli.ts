/**
 * `deno task rehearse [scenario…] [--runs=N] [--url=URL] [--concurrency=N] [--dir=scenarios]`: runs
 * scenario files through Parley's real call path and prints pass rates, failed checks with links to
 * their calls, latency and cost. Exits 0 when every scenario reached its `minPassRate`, 1 when one
 * did not, 2 when the rehearsal could not run (a broken scenario file, a bad setting), 130 (SIGTERM:
 * 143) when Ctrl-C stopped it: the calls in progress are hung up and their records closed first
 * (`rehearsal/stop_signals.ts`).
 *
 * Without `--url` it starts Parley itself on 127.0.0.1 (a free port) with the personas of
 * PERSONAS_DIR and the call database of DATA_DIR, so the calls are on the call pages afterwards. It
 * needs only OPENAI_API_KEY: no Twilio account, no public URL (the virtual phone signs as Twilio with
 * a token made up for the run). With `--url` it calls a running Parley, signing with its
 * TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL and reading records with API_TOKEN from the environment.
 *
 * @module
 */

import { ConfigError, loadConfig, type ParleyConfig } from "./config.ts";
import { type Env, readEnv } from "./config_env.ts";
import { resolvePrices } from "./engines/prices.ts";
import { PersonaLoadError } from "./personas/loader.ts";
import {
  DEFAULT_SCENARIOS_DIR,
  loadScenarios,
  scenarioFiles,
  ScenarioLoadError,
} from "./rehearsal/loader.ts";
import { formatReport, summarize } from "./rehearsal/report.ts";
import { runRehearsals, type RunResult } from "./rehearsal/runner.ts";
import { rehearsalSetup } from "./rehearsal/setup.ts";
import type { ScenarioContext } from "./rehearsal/validate.ts";
import { apiHeaders } from "./rehearsal/phone_requests.ts";
import type { ParleyTarget } from "./rehearsal/virtual_phone.ts";
import { DataDirError, localEnv, type LocalParley, startLocalParley } from "./rehearse_local_parley.ts";
import {
  listenForStop,
  type RehearsalStop,
  STOP_EXIT_CODES,
  type StopSignal,
} from "./rehearsal/stop_signals.ts";

export { LOCAL_PUBLIC_URL } from "./rehearse_local_parley.ts";

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

/** Runs the rehearsal; resolves with the exit code (130 or 143 when stopped by SIGINT or SIGTERM). */
export async function rehearse(args: RehearseArgs, env: Env): Promise<number> {
  const stop = listenForStop();
  try {
    return await rehearseUntilStopped(args, env, stop);
  } finally {
    stop.remove();
  }
}

/** Runs the rehearsal until it ends or `stop` is requested; then closes the Parley it started. */
async function rehearseUntilStopped(args: RehearseArgs, env: Env, stop: RehearsalStop): Promise<number> {
  let config: ParleyConfig;
  try {
    config = loadConfig(args.url === undefined ? localEnv(env) : env);
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message);
    throw error;
  }
  const prices = resolvePrices(config.pricesJson);
  let local: LocalParley | undefined;
  try {
    local = args.url === undefined ? await startLocalParley(config, prices, args.verbose) : undefined;
  } catch (error) {
    // The personas or DATA_DIR it cannot use: named, like the server's start does.
    if (error instanceof PersonaLoadError || error instanceof DataDirError) return fail(error.message);
    throw error;
  }
  const progress = { planned: 0, finished: 0 };
  const run = runScenarios(args, env, { config, prices, local, signal: stop.signal, progress });
  run.catch(() => {}); // once stopped, what the runs cut short do is not reported
  try {
    const outcome = await Promise.race([run, stop.requested]);
    return typeof outcome === "number" ? outcome : await stopped(outcome, local, progress);
  } catch (error) {
    if (error instanceof ScenarioLoadError || error instanceof PersonaLoadError) return fail(error.message);
    if (error instanceof Error && error.name === "RemoteError") return fail(error.message);
    throw error;
  } finally {
    await local?.close();
  }
}

/** What {@linkcode runScenarios} runs with. */
interface RunContext {
  config: ParleyConfig;
  prices: ReturnType<typeof resolvePrices>;
  /** The Parley started here; undefined with `--url`. */
  local: LocalParley | undefined;
  /** Aborted by a stop signal: no further run starts and no report is printed. */
  signal: AbortSignal;
  /** Runs planned and finished so far, for the line a stop prints. */
  progress: { planned: number; finished: number };
}

/** Loads the scenarios, runs them, prints each run and the report; resolves with the exit code. */
async function runScenarios(args: RehearseArgs, env: Env, run: RunContext): Promise<number> {
  const { config, local, progress } = run;
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
  const setup = rehearsalSetup(config, { target, linkBaseUrl, prices: run.prices });
  progress.planned = scenarios.reduce((n, s) => n + (args.runs ?? s.scenario.runs ?? 3), 0);
  console.log(
    `Rehearsing ${scenarios.length} scenario(s), ${progress.planned} call(s), against ${
      args.url ?? "a Parley started here"
    }…`,
  );
  const results = await runRehearsals(scenarios, {
    ...setup,
    ...(args.runs === undefined ? {} : { runs: args.runs }),
    ...(args.concurrency === undefined ? {} : { concurrency: args.concurrency }),
    signal: run.signal,
    onRun: (result) => {
      if (run.signal.aborted) return; // a run cut short by the stop
      progress.finished++;
      console.log(runLine(result));
    },
  });
  if (run.signal.aborted) return STOP_EXIT_CODES.SIGINT; // never read: the stop has answered
  const report = summarize(scenarios, results);
  console.log(`\n${formatReport(report)}`);
  return report.passed ? 0 : 1;
}

/**
 * A stop signal came: says what is stopped, hangs up the calls in progress by closing the Parley
 * started here (their records are closed with `server_shutdown`, the store's queued writes written),
 * and resolves with the signal's exit code. With `--url`, the running Parley sees the calls hang up
 * as this process exits.
 */
async function stopped(
  signal: StopSignal,
  local: LocalParley | undefined,
  progress: RunContext["progress"],
): Promise<number> {
  const live = local?.activeCalls() ?? 0;
  const again = signal === "SIGINT" ? "Ctrl-C" : "SIGTERM";
  console.error(
    `\n⏹ ${signal}: stopping the rehearsal after ${progress.finished} of ${progress.planned} run(s); ` +
      (local === undefined
        ? "the calls in progress hang up as it exits"
        : `hanging up ${live} call(s) in progress and closing their records`) +
      ` (${again} again quits at once)`,
  );
  if (local !== undefined) {
    await local.close();
    console.error(
      `⏹ Rehearsal stopped (${signal}): ${live} call(s) hung up, their records closed with server_shutdown`,
    );
  }
  return STOP_EXIT_CODES[signal];
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
