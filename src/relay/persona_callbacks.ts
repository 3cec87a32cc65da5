/**
 * The persona's functions a call runs when an action needs them (`voicemail` on an answering
 * machine, `transfer.to` on `transfer_call`), guarded: user code that throws, returns a Promise or
 * returns something unusable is logged naming the persona file and the field, and the call goes on
 * as if the persona did not set it (no voicemail: hang up; no target: the transfer is refused).
 *
 * @module
 */

import { describe } from "../engines/settings_checks.ts";
import { errorText, excerpt, type Logger } from "../log.ts";
import type { CallContext, LoadedPersona } from "../personas/types.ts";
import { E164_PATTERN } from "../personas/validate_actions.ts";
import { TRANSFER_PARAMETER } from "./built_in_tools.ts";

/**
 * The voicemail instruction for this call: the persona's string, or what its function returns.
 * Undefined when the persona has none, or when its function throws or returns no text: that is
 * logged (`<file>: voicemail: …`) and the caller hangs up as if there were no voicemail.
 *
 * @example
 * ```ts
 * voicemailText(loaded, context, log); // "Tell Dana that Tess called about the order."
 * ```
 */
export function voicemailText(loaded: LoadedPersona, context: CallContext, log: Logger): string | undefined {
  const voicemail = loaded.persona.voicemail;
  if (typeof voicemail !== "function") return voicemail;
  const ran = runGuarded(voicemail, context, "a non-empty string", (t) => t.trim() !== "");
  return "value" in ran ? ran.value : failed(loaded, "voicemail", ran.problem, context, log);
}

/**
 * Where `transfer_call` dials: the call's `transferTo` parameter when it is E.164, else the persona's
 * `transfer.to` (a number, or a function of the call). Undefined when neither gives an E.164 number:
 * the transfer is refused, and a `transfer.to` function that throws or returns no E.164 number is
 * logged (`<file>: transfer.to: …`).
 *
 * @example
 * ```ts
 * transferTargetFor(loaded, context, log); // "+14155550100"
 * ```
 */
export function transferTargetFor(
  loaded: LoadedPersona,
  context: CallContext,
  log: Logger,
): string | undefined {
  const asked = context.parameters[TRANSFER_PARAMETER];
  if (asked !== undefined && E164_PATTERN.test(asked)) return asked;
  const to = loaded.persona.transfer?.to;
  if (typeof to !== "function") return to !== undefined && E164_PATTERN.test(to) ? to : undefined;
  const ran = runGuarded(to, context, "an E.164 number (+14155550100)", (t) => E164_PATTERN.test(t));
  return "value" in ran ? ran.value : failed(loaded, "transfer.to", ran.problem, context, log);
}

/** Runs the persona's `fn` on the call: its text when `fits` accepts it, else what went wrong. */
function runGuarded(
  fn: (context: CallContext) => unknown,
  context: CallContext,
  wanted: string,
  fits: (text: string) => boolean,
): { value: string } | { problem: string } {
  let result: unknown;
  try {
    result = fn(context);
  } catch (error) {
    return { problem: `the function threw: ${excerpt(errorText(error), 200)}` };
  }
  const problem = resultProblem(result, wanted, fits);
  return problem === undefined ? { value: result as string } : { problem };
}

/** What is wrong with a function's `result`, or undefined when it is a string `fits` accepts. */
function resultProblem(result: unknown, wanted: string, fits: (text: string) => boolean): string | undefined {
  if (typeof result === "string") {
    return fits(result) ? undefined : `returned ${excerpt(JSON.stringify(result))}, not ${wanted}`;
  }
  if (!isThenable(result)) return `returned ${describe(result)}, not ${wanted}`;
  try {
    // Nobody awaits it: a rejection must not become an unhandled one, which would stop the process.
    result.then(undefined, () => {});
  } catch { /* a thenable whose then throws is refused all the same */ }
  return `returned a Promise, not ${wanted}; the function must not be async: return the value directly`;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

/** Logs that the persona's `field` failed on this call, and what the call does instead. */
function failed(
  loaded: LoadedPersona,
  field: "voicemail" | "transfer.to",
  problem: string,
  context: CallContext,
  log: Logger,
): undefined {
  const instead = field === "voicemail"
    ? "hanging up as if the persona had no voicemail"
    : "the transfer is refused";
  log.warn(`${loaded.file}: ${field}: ${problem}; ${instead} (CallSid=${context.callSid})`);
  return undefined;
}
