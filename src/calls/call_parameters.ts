/**
 * The rule for a call's custom parameters (`lead=Dana`), shared by `POST /api/calls` and
 * `deno task persona --param`, so a preview never accepts a parameter a real call would refuse.
 *
 * @module
 */

import { MAX_PARAMETER_CHARS } from "../twilio/twiml.ts";
import { clip } from "../http/input_text.ts";

/** Most parameters one call may carry. */
export const MAX_CALL_PARAMETERS = 20;
/** Longest parameter name. */
export const MAX_PARAMETER_NAME_CHARS = 64;

/** Parameter names Parley sets itself: a call names them in their own fields. */
export const RESERVED_PARAMETERS: ReadonlySet<string> = new Set(["persona", "voice"]);

/**
 * The prefix of Parley's own names (any case): the voice webhook reads `?parley_source=` as a
 * rehearsal's marker and refuses any other value, so no call, lead or campaign may carry such a name.
 */
export const RESERVED_PREFIX = "parley_";

/** The problem with a parameter or lead field named `name` that Parley keeps for itself, if any. */
export function reservedPrefixProblem(name: string): string | undefined {
  return name.toLowerCase().startsWith(RESERVED_PREFIX)
    ? `is reserved: names starting with "${RESERVED_PREFIX}" are Parley's own`
    : undefined;
}

/**
 * `value` on one line: each run of line breaks and tabs (a multi-line CSV cell, an address) becomes one
 * space. A call parameter is one line; a lead's free field becomes one.
 */
export function oneLine(value: string): string {
  return value.replace(/[\r\n\t]+/g, " ");
}

const PARAMETER_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

/**
 * What is wrong with one custom parameter, or undefined when a call may carry it.
 *
 * @example
 * ```ts
 * callParameterProblem("lead", "Dana"); // undefined
 * callParameterProblem("1st", "x"); // 'name "1st" is not allowed: use letters, digits, _ and -, starting with a letter'
 * ```
 */
export function callParameterProblem(name: string, value: unknown): string | undefined {
  if (name.length > MAX_PARAMETER_NAME_CHARS) {
    return `name "${clip(name)}" is longer than ${MAX_PARAMETER_NAME_CHARS} characters`;
  }
  if (!PARAMETER_NAME.test(name)) {
    return `name "${clip(name)}" is not allowed: use letters, digits, _ and -, starting with a letter`;
  }
  if (RESERVED_PARAMETERS.has(name)) return `name "${name}" is reserved: use the top-level "${name}" field`;
  const reserved = reservedPrefixProblem(name);
  if (reserved !== undefined) return `name "${name}" ${reserved}`;
  if (typeof value !== "string") return `"${name}" is ${describe(value)}, not a string`;
  if (value.length >= MAX_PARAMETER_CHARS) {
    return `"${name}" is ${value.length} characters long: values must be under ${MAX_PARAMETER_CHARS}`;
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return `"${name}" contains control characters`;
  return undefined;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}
