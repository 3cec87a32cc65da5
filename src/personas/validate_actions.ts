/**
 * Checks of a persona's action fields (`tools`, `endCall`, `transfer`, `transferFailedMessage`,
 * `dtmf`, `keypad`, `voicemail`), each problem naming the field and the fix.
 *
 * @module
 */

import { describe } from "../engines/settings_checks.ts";
import { checkTools } from "./tools.ts";

/** An E.164 phone number: `+`, then 8 to 15 digits, the first not 0. */
export const E164_PATTERN = /^\+[1-9]\d{7,14}$/;

/** Reports one problem: the field inside the persona and what is wrong. */
type Report = (field: string, detail: string) => void;

/**
 * Checks the action fields of `value` (a persona's default export).
 *
 * @example
 * ```ts
 * checkActions({ transfer: { to: "555" } }, (field, detail) => console.log(field, detail));
 * // transfer.to "555" is not an E.164 number; write it as +14155550100
 * ```
 */
export function checkActions(value: Record<string, unknown>, report: Report): void {
  checkTools(value.tools, report);
  for (const flag of ["endCall", "doNotCall", "dtmf", "keypad"] as const) {
    if (value[flag] !== undefined && typeof value[flag] !== "boolean") {
      report(flag, `${describe(value[flag])} is not true or false`);
    }
  }
  checkTransfer(value.transfer, report);
  const failed = value.transferFailedMessage;
  if (failed !== undefined && (typeof failed !== "string" || failed.trim() === "")) {
    report(
      "transferFailedMessage",
      "not a non-empty string; write what the caller hears when the transfer fails",
    );
  }
  const voicemail = value.voicemail;
  if (isAsyncFunction(voicemail)) {
    report("voicemail", "an async function is not supported; return the message directly");
  } else if (
    voicemail !== undefined && typeof voicemail !== "function" &&
    (typeof voicemail !== "string" || voicemail.trim() === "")
  ) {
    report("voicemail", "not a non-empty string or a function; write the message the agent leaves");
  }
}

/**
 * True for an `async` function or async generator: a call gets a Promise (or an iterator), never
 * the string itself, so a persona field that a call reads at once (`instructions`, `voicemail`,
 * `transfer.to`) may not be one.
 *
 * @example
 * ```ts
 * isAsyncFunction(async () => "Hi"); // true
 * isAsyncFunction(() => "Hi"); // false
 * ```
 */
export function isAsyncFunction(value: unknown): boolean {
  if (typeof value !== "function") return false;
  const kind = Object.getPrototypeOf(value)?.constructor?.name;
  return kind === "AsyncFunction" || kind === "AsyncGeneratorFunction";
}

function checkTransfer(transfer: unknown, report: Report): void {
  if (transfer === undefined) return;
  if (typeof transfer !== "object" || transfer === null || Array.isArray(transfer)) {
    report("transfer", 'not an object; write transfer: { to: "+14155550100" }');
    return;
  }
  const fields = transfer as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (key !== "to") report(`transfer.${key}`, "unknown field; transfer has only to");
  }
  const to = fields.to;
  if (isAsyncFunction(to)) {
    report("transfer.to", "an async function is not supported; return the number directly");
    return;
  }
  if (typeof to === "function") return;
  if (typeof to !== "string") {
    report(
      "transfer.to",
      'missing; write an E.164 number ("+14155550100") or a function of the call returning one',
    );
  } else if (!E164_PATTERN.test(to)) {
    report("transfer.to", `${JSON.stringify(to)} is not an E.164 number; write it as +14155550100`);
  }
}
