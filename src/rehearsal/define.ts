/**
 * `defineScenario()`: editor help for scenario files. Import it as `parley/scenario` (an import-map
 * alias in `deno.json`). A plain object export works just as well.
 *
 * @module
 */

import type { Scenario } from "./types.ts";

export type { Scenario, ScenarioCaller, ScenarioCheck } from "./types.ts";

/**
 * Returns `scenario` unchanged; its only job is to type-check the object.
 *
 * @example
 * ```ts
 * import { defineScenario } from "parley/scenario";
 * export default defineScenario({
 *   persona: "receptionist",
 *   caller: { instructions: "You are Sam. You want to leave a message for Priya." },
 *   expect: [{ name: "takes the message", toolCalled: "take_message" }],
 * });
 * ```
 */
export function defineScenario(scenario: Scenario): Scenario {
  return scenario;
}
