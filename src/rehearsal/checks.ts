/**
 * The checks on facts Parley already knows: they read the call record (`GET /api/calls/:callSid`)
 * and what the virtual phone measured, and the `outcome` checks the call's post-call analysis
 * (`outcome_reading.ts`). Judged criteria are the judge's (`judge.ts`).
 *
 * @module
 */

import type { CallRecord } from "../store/call_record.ts";
import type { OutcomeReading } from "./outcome_reading.ts";
import type { ScenarioCheck } from "./types.ts";
import type { PhoneCallResult } from "./virtual_phone.ts";

/** How one check went. `skipped` checks do not count toward the run's verdict. */
export interface CheckResult {
  name: string;
  status: "passed" | "failed" | "skipped";
  /** Why, in plain words (the facts compared). */
  reason: string;
}

/** Why `outcome` checks are skipped for a persona without `analysis`. */
export const NO_ANALYSIS = "skipped: the persona has no analysis";

/**
 * Evaluates every check but the judged ones (`judge`), in order.
 *
 * @example
 * ```ts
 * evaluateChecks([{ name: "hangs up", endReason: "agent_hung_up" }], record, phone);
 * // [{ name: "hangs up", status: "passed", reason: "the call ended: agent_hung_up" }]
 * ```
 */
export function evaluateChecks(
  checks: readonly ScenarioCheck[],
  record: CallRecord,
  phone: Pick<PhoneCallResult, "maxDeadAirMs">,
  outcome?: OutcomeReading,
): CheckResult[] {
  return checks.filter((check) => !("judge" in check)).map((check) =>
    evaluate(check, record, phone, outcome)
  );
}

function evaluate(
  check: ScenarioCheck,
  record: CallRecord,
  phone: Pick<PhoneCallResult, "maxDeadAirMs">,
  outcome: OutcomeReading | undefined,
): CheckResult {
  const verdict = (ok: boolean, reason: string): CheckResult => ({
    name: check.name,
    status: ok ? "passed" : "failed",
    reason,
  });
  if ("endReason" in check) return verdict(...endReasonVerdict(check.endReason, record));
  if ("toolCalled" in check) return verdict(...toolCalledVerdict(check, record));
  if ("toolNotCalled" in check) {
    const count = record.toolCalls.filter((call) => call.name === check.toolNotCalled).length;
    return verdict(
      count === 0,
      count === 0 ? `${check.toolNotCalled} was not called` : `${check.toolNotCalled} was called ${count}×`,
    );
  }
  if ("maxTurns" in check) {
    const turns = record.transcript.filter((line) => line.speaker === "agent").length;
    return verdict(turns <= check.maxTurns, `the agent spoke ${turns} turn(s) (at most ${check.maxTurns})`);
  }
  if ("p95LatencyMs" in check) {
    const latency = record.latency;
    if (latency === null) {
      return verdict(false, "no agent turn latency was measured (the agent never answered)");
    }
    return verdict(
      latency.p95Ms <= check.p95LatencyMs,
      `turn latency p95 ${
        Math.round(latency.p95Ms)
      } ms over ${latency.turns} turn(s) (at most ${check.p95LatencyMs} ms)`,
    );
  }
  if ("maxDeadAirSeconds" in check) {
    const seconds = phone.maxDeadAirMs / 1000;
    return verdict(
      seconds <= check.maxDeadAirSeconds,
      `the longest silence was ${seconds.toFixed(1)} s (at most ${check.maxDeadAirSeconds} s)`,
    );
  }
  if ("outcome" in check) {
    if (outcome === undefined || outcome.kind === "no_analysis") {
      return { name: check.name, status: "skipped", reason: NO_ANALYSIS };
    }
    return verdict(...outcomeVerdict(check.outcome, outcome));
  }
  return { name: check.name, status: "skipped", reason: "judged separately" };
}

/** Whether the settled analysis says every wanted value (compared exactly), and the reason said so. */
function outcomeVerdict(
  wanted: Record<string, string | number | boolean>,
  reading: Exclude<OutcomeReading, { kind: "no_analysis" }>,
): [boolean, string] {
  if (reading.kind === "unsettled") return [false, `no outcome: ${reading.reason}`];
  const { outcome } = reading;
  if (outcome.state === "failed" || outcome.result === null) {
    return [false, `the analysis failed: ${outcome.error ?? "no result"}`];
  }
  const result = outcome.result;
  const parts = Object.entries(wanted).map(([field, want]) => {
    const got = result[field];
    const said = got === undefined ? "absent" : JSON.stringify(got);
    return {
      ok: got === want,
      text: `${field} ${said}${got === want ? "" : ` (expected ${JSON.stringify(want)})`}`,
    };
  });
  return [parts.every((p) => p.ok), `the outcome says ${parts.map((p) => p.text).join(", ")}`];
}

/** Whether the call ended for one of the `endReason`s, and the reason said so. */
function endReasonVerdict(
  endReason: Extract<ScenarioCheck, { endReason: unknown }>["endReason"],
  record: CallRecord,
): [boolean, string] {
  const wanted = Array.isArray(endReason) ? endReason : [endReason];
  const got = record.endReason;
  return [
    got !== null && wanted.includes(got),
    got === null
      ? "the call has no end reason"
      : `the call ended: ${got}${wanted.includes(got) ? "" : ` (expected ${wanted.join(" or ")})`}`,
  ];
}

/** Whether the tool was called (with the wanted arguments, if any), and the reason said so. */
function toolCalledVerdict(
  check: Extract<ScenarioCheck, { toolCalled: unknown }>,
  record: CallRecord,
): [boolean, string] {
  const calls = record.toolCalls.filter((call) => call.name === check.toolCalled);
  if (calls.length === 0) {
    const names = [...new Set(record.toolCalls.map((call) => call.name))];
    return [
      false,
      `${check.toolCalled} was not called (${
        names.length === 0 ? "no tool was called" : `called: ${names.join(", ")}`
      })`,
    ];
  }
  const wanted = check.withArguments;
  if (wanted === undefined) return [true, `${check.toolCalled} was called ${calls.length}×`];
  const match = calls.find((call) => argumentsMatch(call.arguments, wanted));
  return [
    match !== undefined,
    match !== undefined
      ? `${check.toolCalled} was called with ${match.arguments}`
      : `${check.toolCalled} was called, but never with ${JSON.stringify(wanted)}: ${
        calls.map((call) => call.arguments).join("; ")
      }`,
  ];
}

/**
 * True when the tool call's arguments (JSON text as recorded, maybe cut at 200 characters) hold
 * every wanted value: strings match when the argument contains them (case and spacing aside),
 * numbers and booleans when equal.
 */
export function argumentsMatch(
  argumentsText: string,
  wanted: Record<string, string | number | boolean>,
): boolean {
  let args: Record<string, unknown> | undefined;
  try {
    const parsed = JSON.parse(argumentsText);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) args = parsed;
  } catch {
    args = undefined;
  }
  const squash = (text: string) => text.toLowerCase().replace(/\s+/g, " ").trim();
  return Object.entries(wanted).every(([name, value]) => {
    if (args === undefined) {
      // Cut short: the value as written in the text is the best evidence left.
      return squash(argumentsText).includes(squash(`"${name}":${JSON.stringify(value)}`).replace(/"$/, ""));
    }
    const got = args[name];
    if (typeof value === "string") return typeof got === "string" && squash(got).includes(squash(value));
    return got === value;
  });
}
