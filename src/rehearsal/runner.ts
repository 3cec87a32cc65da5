/**
 * Runs rehearsals: each run is one call through the real call path (a {@linkcode VirtualPhone} and
 * a {@linkcode CallerBridge}), then its checks on the call record and the judge's verdicts. Runs go
 * in parallel up to a limit; each result is reported the moment it is known.
 *
 * @module
 */

import type { PriceTable } from "../engines/prices.ts";
import { type EngineChooser, engineDefinition } from "../engines/registry.ts";
import { engineForModel } from "../engines/voices.ts";
import type { UpstreamConnector } from "../engines/upstream_socket.ts";
import type { CallRecord } from "../store/call_record.ts";
import { CallerBridge } from "./caller_bridge.ts";
import { type CheckResult, evaluateChecks } from "./checks.ts";
import { judge, type JudgeOptions } from "./judge.ts";
import { readOutcome } from "./outcome_reading.ts";
import { type LoadedScenario, SCENARIO_DEFAULTS } from "./types.ts";
import { apiHeaders } from "./phone_requests.ts";
import { type ParleyTarget, type PhoneCallResult, VirtualPhone } from "./virtual_phone.ts";
import { errorText } from "../log.ts";

/** Runs at once at most, by default: each is two live sessions. */
export const DEFAULT_CONCURRENCY = 2;
/** How long a finished call's record may take to show its end, ms. */
export const RECORD_WAIT_MS = 10_000;

/** What running rehearsals needs. */
export interface RehearsalSetup {
  /** The Parley called. */
  target: ParleyTarget;
  /** Where the report's call links point (the pages' origin). */
  linkBaseUrl: string;
  /** OPENAI_API_KEY: the caller sessions. */
  apiKey: string;
  /** The engines of the caller sessions (OPENAI_REALTIME_URL, OPENAI_LIVE_URL). */
  engineFor: EngineChooser;
  connect: UpstreamConnector;
  prices: PriceTable;
  /** The caller's model when the scenario names none (OPENAI_REALTIME_MODEL). */
  defaultCallerModel: string;
  /** The judge's endpoint, model and key. */
  judge: JudgeOptions;
  /** @default DEFAULT_CONCURRENCY */
  concurrency?: number;
  /** Overrides every scenario's `runs`. */
  runs?: number;
  /** Each run's result, as it comes in. */
  onRun?: (result: RunResult) => void;
  /** Stops starting runs (those under way finish). */
  signal?: AbortSignal;
  /** How long `outcome` checks wait for the call's analysis to settle, ms. @default OUTCOME_WAIT_MS */
  outcomeWaitMs?: number;
}

/** One run's result. */
export interface RunResult {
  scenario: string;
  /** From 1. */
  run: number;
  callSid: string | undefined;
  /** The call's page. */
  callUrl: string | undefined;
  passed: boolean;
  checks: CheckResult[];
  /** Turn latencies (heard, else sent), ms. */
  latenciesMs: number[];
  /**
   * USD of the agent's call, the caller session and the judge, as far as the run got: a call the
   * webhook refused costs its caller session only (0 unless it spoke), a run whose record could not
   * be read its caller session (the agent's call is on its own record). Null when a model has no price.
   */
  costUsd: number | null;
}

/** Runs every run of every scenario; resolves with all results, in the order they were planned. */
export async function runRehearsals(
  scenarios: readonly LoadedScenario[],
  setup: RehearsalSetup,
): Promise<RunResult[]> {
  const plan = scenarios.flatMap((loaded) =>
    Array.from({ length: setup.runs ?? loaded.scenario.runs ?? SCENARIO_DEFAULTS.runs }, (_, i) => ({
      loaded,
      run: i + 1,
    }))
  );
  const results: RunResult[] = new Array(plan.length);
  let next = 0;
  const worker = async () => {
    while (next < plan.length && setup.signal?.aborted !== true) {
      const index = next++;
      const { loaded, run } = plan[index]!;
      const result = await runOnce(loaded, run, setup);
      results[index] = result;
      setup.onRun?.(result);
    }
  };
  const workers = Math.max(1, Math.min(setup.concurrency ?? DEFAULT_CONCURRENCY, plan.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return results.filter((r) => r !== undefined);
}

/** One call of `loaded`, checked and judged. Never throws: a failure is a failed check. */
export async function runOnce(
  loaded: LoadedScenario,
  run: number,
  setup: RehearsalSetup,
): Promise<RunResult> {
  const { scenario } = loaded;
  const base = { scenario: loaded.id, run, latenciesMs: [] as number[] };
  const failed = (name: string, reason: string, costUsd: number | null, callSid?: string): RunResult => ({
    ...base,
    callSid,
    callUrl: callSid === undefined ? undefined : callUrl(setup, callSid),
    passed: false,
    checks: [{ name, status: "failed", reason }],
    costUsd,
  });
  const bridge = callerBridgeFor(scenario, setup);
  let phone: VirtualPhone;
  try {
    phone = await dial(scenario, setup.target, bridge);
  } catch (error) {
    // No call: Parley billed nothing; the caller session costs what it reported (0 unless it spoke).
    return failed("call", errorText(error), (await bridge.close()).costUsd);
  }
  bridge.attach(phone);
  const { phoneResult, timedOut } = await untilEnded(phone, scenario);
  const caller = await bridge.close();
  let record: CallRecord | string = await fetchRecord(setup.target, phone.callSid);
  if (typeof record === "string") return failed("call record", record, caller.costUsd, phone.callSid);
  // The outcome checks wait for the post-call analysis; its record has the analysis's cost too.
  const outcome = scenario.expect.some((check) => "outcome" in check)
    ? await readOutcome(setup.target, phone.callSid, scenario.persona, setup.outcomeWaitMs)
    : undefined;
  record = outcome?.record ?? record;

  const checks = evaluateChecks(scenario.expect, record, phoneResult, outcome?.reading);
  const criteria = scenario.expect.flatMap((check) =>
    "judge" in check ? [{ name: check.name, text: check.judge }] : []
  );
  const judged = await judge(record.transcript, criteria, setup.judge);
  const ordered = orderedChecks(scenario, [...checks, ...judged.results], { phoneResult, caller, timedOut });
  const costs = [record.costUsd, caller.costUsd, judged.costUsd];
  return {
    ...base,
    callSid: phone.callSid,
    callUrl: callUrl(setup, phone.callSid),
    passed: ordered.every((c) => c.status !== "failed"),
    checks: ordered,
    latenciesMs: record.turns.map((t) => t.firstAudioHeardMs ?? t.firstAudioSentMs),
    costUsd: costs.some((c) => c === null) ? null : costs.reduce((a, b) => a! + b!, 0),
  };
}

/** Places the scenario's call, its audio going to and from `bridge`. */
function dial(
  scenario: LoadedScenario["scenario"],
  target: ParleyTarget,
  bridge: CallerBridge,
): Promise<VirtualPhone> {
  return VirtualPhone.dial(target, {
    persona: scenario.persona,
    ...(scenario.parameters === undefined ? {} : { parameters: scenario.parameters }),
    ...(scenario.voice === undefined ? {} : { voice: scenario.voice }),
    ...(scenario.caller.answeredBy === undefined ? {} : { answeredBy: scenario.caller.answeredBy }),
  }, { onHeard: (payload) => bridge.hear(payload), onFrame: () => bridge.tick() });
}

/**
 * Waits for the call to end, hanging it up once it has run `maxMinutes`; `timedOut` (the minutes)
 * when that hang-up is what ended it.
 */
async function untilEnded(
  phone: VirtualPhone,
  scenario: LoadedScenario["scenario"],
): Promise<{ phoneResult: PhoneCallResult; timedOut: number | undefined }> {
  const minutes = scenario.maxMinutes ?? SCENARIO_DEFAULTS.maxMinutes;
  let limitReached = false;
  const limit = setTimeout(() => {
    limitReached = true;
    phone.hangUp();
  }, minutes * 60_000);
  const phoneResult = await phone.ended;
  clearTimeout(limit);
  // `endedBy: "parley"`: Parley had closed the line already, so the hang-up did nothing.
  return { phoneResult, timedOut: limitReached && phoneResult.endedBy === "caller" ? minutes : undefined };
}

/** The simulated caller's session: the scenario's model and voice (by default its engine's `callerVoice`). */
function callerBridgeFor(scenario: LoadedScenario["scenario"], setup: RehearsalSetup): CallerBridge {
  const model = scenario.caller.model ?? setup.defaultCallerModel;
  const engine = engineForModel(model);
  const voice = scenario.caller.voice ?? engineDefinition(engine).callerVoice;
  return new CallerBridge({
    engineFor: setup.engineFor,
    model,
    voice,
    who: scenario.caller.instructions,
    apiKey: setup.apiKey,
    connect: setup.connect,
    prices: setup.prices,
  });
}

/**
 * The run's checks in the scenario's order, after a failed caller session, a failed answering-machine
 * callback and a call the time limit ended (each a check of its own, first, in that order).
 */
function orderedChecks(
  scenario: LoadedScenario["scenario"],
  results: CheckResult[],
  call: {
    phoneResult: PhoneCallResult;
    caller: { failure?: string | undefined };
    /** `maxMinutes`, when the rehearsal hung up because the call ran that long. */
    timedOut: number | undefined;
  },
): CheckResult[] {
  const byName = new Map(results.map((c) => [c.name, c]));
  const ordered = scenario.expect.map((check) => byName.get(check.name)!);
  if (call.timedOut !== undefined) {
    const reason = `still going after ${call.timedOut} min: hung up by the rehearsal`;
    ordered.unshift({ name: "time limit", status: "failed", reason });
  }
  const amd = call.phoneResult.amdCallback;
  if (amd !== undefined && amd.outcome !== "sent") {
    const reason = amd.outcome === "not sent"
      ? `AnsweredBy=${amd.answeredBy} was never posted: the call ended before the caller's greeting did`
      : amd.outcome;
    ordered.unshift({ name: "answering machine", status: "failed", reason });
  }
  if (call.caller.failure !== undefined) {
    ordered.unshift({ name: "caller session", status: "failed", reason: call.caller.failure });
  }
  return ordered;
}

function callUrl(setup: RehearsalSetup, callSid: string): string {
  return new URL(`/calls/${callSid}`, setup.linkBaseUrl).toString();
}

/** The call's record once it shows the call ended, or why it cannot be had. */
async function fetchRecord(target: ParleyTarget, callSid: string): Promise<CallRecord | string> {
  const deadline = performance.now() + RECORD_WAIT_MS;
  const headers = apiHeaders(target);
  let last = "";
  while (performance.now() < deadline) {
    try {
      const response = await fetch(`${target.origin}/api/calls/${callSid}`, { headers });
      const body = await response.json();
      if (response.ok && body.endedAt !== null) return body as CallRecord;
      last = response.ok
        ? "the call record shows no end"
        : `GET /api/calls/${callSid} answered ${response.status}: ${body.error ?? ""}`;
      if (response.status === 401 || response.status === 403 || response.status === 503) return last;
    } catch (error) {
      last = `cannot read the call record: ${errorText(error)}`;
    }
    // The store writes a moment after the call ends (batched): ask again shortly.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return `${last} after ${RECORD_WAIT_MS / 1000} s`;
}
