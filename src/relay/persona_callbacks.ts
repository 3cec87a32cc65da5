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
import { transferTarget } from "./built_in_tools.ts";

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
  let text: unknown;
  try {
    text = voicemail(context);
  } catch (error) {
    return failed(loaded, "voicemail", `the function threw: ${excerpt(errorText(error), 200)}`, context, log);
  }
  const problem = resultProblem(text, "a non-empty string", (t) => t.trim() !== "");
  if (problem === undefined) return text as string;
  return failed(loaded, "voicemail", problem, context, log);
}

/**
 * Where `transfer_call` dials (as {@linkcode transferTarget} decides), logging
 * `<file>: transfer.to: …` when the persona's `transfer.to` function throws or returns no E.164
 * number. Undefined when there is no valid target: the transfer is refused.
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
  const persona = loaded.persona;
  const to = persona.transfer?.to;
  const report = (problem: string) => failed(loaded, "transfer.to", problem, context, log);
  if (typeof to !== "function") return transferTarget(persona, context, report);
  // Called only when no `transferTo` parameter overrides it, as transferTarget decides.
  const checked = (call: CallContext): string | undefined => {
    let target: unknown;
    try {
      target = to(call);
    } catch (error) {
      report(`the function threw: ${excerpt(errorText(error), 200)}`);
      return undefined;
    }
    const problem = resultProblem(target, "an E.164 number (+14155550100)", (t) => E164_PATTERN.test(t));
    if (problem === undefined) return target as string;
    report(problem);
    return undefined;
  };
  return transferTarget({ ...persona, transfer: { to: checked } }, context, report);
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
