/**
 * Checks the tool a scenario's `toolCalled` / `toolNotCalled` check names against what the scenario's
 * persona offers the model on a call (its own `tools` and the built-in actions it turns on), so a
 * misspelt name is refused when the scenarios load rather than after a billed run.
 *
 * @module
 */

import { closest } from "../engines/settings_checks.ts";
import { BUILT_IN_TOOL_NAMES } from "../personas/tools.ts";

/** Where a tool name stands and what it is checked against. */
export interface ToolNamePlace {
  /** The field path, e.g. `expect[2].toolNotCalled`. */
  field: string;
  /** The kind of check naming the tool. */
  kind: "toolCalled" | "toolNotCalled";
  /** The scenario's persona id; undefined when it is not a known persona (reported elsewhere). */
  persona: string | undefined;
  /** The tools that persona's calls offer the model (`offeredTools`); undefined when not known. */
  offered: readonly string[] | undefined;
}

/**
 * Reports `name` when the persona cannot call it: a `toolCalled` check must name one of `offered`
 * (else it always fails); a `toolNotCalled` check may also name any built-in action, which a persona
 * without it never calls (e.g. `toolNotCalled: "transfer_call"`, kept should `transfer` be turned on).
 * Nothing is reported when `name` is not a non-empty string (`checkText` says so) or when the persona
 * or its tools are not known.
 *
 * @example
 * ```ts
 * checkToolName("transfer_cal", {
 *   field: "expect[2].toolNotCalled", kind: "toolNotCalled", persona: "receptionist",
 *   offered: ["take_message", "end_call"],
 * }, report);
 * // report("expect[2].toolNotCalled", '"transfer_cal" is not a tool of persona receptionist; …')
 * ```
 */
export function checkToolName(
  name: unknown,
  place: ToolNamePlace,
  report: (field: string, detail: string) => void,
): void {
  const { field, kind, persona, offered } = place;
  if (typeof name !== "string" || name.trim() === "" || persona === undefined || offered === undefined) {
    return;
  }
  if (offered.includes(name)) return;
  const builtIns: readonly string[] = BUILT_IN_TOOL_NAMES;
  const isBuiltIn = builtIns.includes(name);
  if (kind === "toolNotCalled" && isBuiltIn) return;
  const tools = offered.length === 0 ? "it offers no tools" : `its tools are ${offered.join(", ")}`;
  if (isBuiltIn) {
    report(field, `"${name}" is a built-in action persona ${persona} does not turn on; ${tools}`);
    return;
  }
  const others = builtIns.filter((b) => !offered.includes(b));
  const allowed = kind === "toolNotCalled" ? [...offered, ...others] : offered;
  const guess = closest(name, allowed);
  const also = kind === "toolNotCalled" && others.length > 0
    ? ` (toolNotCalled may also name a built-in: ${others.join(", ")})`
    : "";
  report(
    field,
    `"${name.slice(0, 64)}" is not a tool of persona ${persona}; ${tools}${also}${
      guess === undefined ? "" : `; did you mean "${guess}"?`
    }`,
  );
}
