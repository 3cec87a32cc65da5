/**
 * The tools a persona turns on with a flag (`endCall`, `doNotCall`, `transfer`, `keypad`), as offered to the
 * model, beside the persona's own `tools`.
 *
 * @module
 */

import type { ToolSpec } from "../engines/engine.ts";
import type { Persona } from "../personas/types.ts";

/** The call parameter that may name the transfer target (E.164). */
export const TRANSFER_PARAMETER = "transferTo";

/** `end_call`: the agent hangs up once its goodbye has been heard. */
export const END_CALL_TOOL: ToolSpec = {
  name: "end_call",
  description:
    "Hang up the call. Say goodbye first, in the same turn: the line closes once the caller has heard your last words.",
  parameters: { type: "object", properties: {} },
};

/** `do_not_call`: the person asked never to be called again; the call ends after the goodbye. */
export const DO_NOT_CALL_TOOL: ToolSpec = {
  name: "do_not_call",
  description:
    "The person asked not to be called again. First confirm it to them, then call this, then say goodbye in the same turn: their number is removed from every call list and the line closes once they have heard you.",
  parameters: { type: "object", properties: {} },
};

/** `transfer_call`: the caller is handed to a person. */
export const TRANSFER_CALL_TOOL: ToolSpec = {
  name: "transfer_call",
  description:
    "Transfer the caller to a person. First tell the caller you are transferring them, in the same turn.",
  parameters: { type: "object", properties: {} },
};

/** `press_keys`: keypad tones for a phone menu. */
export const PRESS_KEYS_TOOL: ToolSpec = {
  name: "press_keys",
  description:
    "Press keys on the phone keypad, e.g. to choose an option in a company's phone menu. Digits 0-9, * and #; w waits half a second.",
  parameters: {
    type: "object",
    properties: { keys: { type: "string", description: 'The keys to press, in order, e.g. "2" or "1234#"' } },
    required: ["keys"],
  },
};

/**
 * The tools offered to the model for `persona`: its own, then the built-ins it turned on.
 *
 * @example
 * ```ts
 * offeredTools({ voice: "marin", instructions: "…", endCall: true }); // [END_CALL_TOOL]
 * ```
 */
export function offeredTools(persona: Persona): ToolSpec[] {
  const tools: ToolSpec[] = (persona.tools ?? []).map((tool) => ({
    name: tool.name,
    description: tool.description,
    parameters: { ...(tool.parameters ?? { type: "object", properties: {} }) },
  }));
  if (persona.endCall === true) tools.push(END_CALL_TOOL);
  if (persona.doNotCall === true) tools.push(DO_NOT_CALL_TOOL);
  if (persona.transfer !== undefined) tools.push(TRANSFER_CALL_TOOL);
  if (persona.keypad === true) tools.push(PRESS_KEYS_TOOL);
  return tools;
}
