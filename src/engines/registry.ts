/**
 * The engines Parley speaks, one line each, and where they are chosen: by the model's name.
 *
 * Adding an engine: a folder under `src/engines/` exporting an {@linkcode EngineDefinition}, and a
 * line in {@linkcode ENGINE_DEFINITIONS}.
 *
 * @module
 */

import type { Engine, EngineDefinition, EngineEndpoints } from "./engine.ts";
import { LIVE_ENGINE } from "./live/definition.ts";
import { REALTIME_ENGINE } from "./realtime/definition.ts";

export type { EngineEndpoints } from "./engine.ts";

/** Every engine, the default (the one serving OPENAI_REALTIME_MODEL's kind of model) first. */
export const ENGINE_DEFINITIONS = [
  REALTIME_ENGINE,
  LIVE_ENGINE,
] as const;

/** One engine id: `realtime` (turn-based, per token) or `live` (GPT-Live, full-duplex, per minute). */
export type EngineId = typeof ENGINE_DEFINITIONS[number]["id"];

/** The engine ids, in the registry's order. */
export const ENGINES: readonly EngineId[] = ENGINE_DEFINITIONS.map((engine) => engine.id);

/** The definition of engine `id`. */
export function engineDefinition(id: EngineId): EngineDefinition<EngineId> {
  return ENGINE_DEFINITIONS.find((engine) => engine.id === id)!;
}

/** The engine serving `model`, or undefined when no engine's prefix matches. */
export function findEngineForModel(model: string): EngineDefinition<EngineId> | undefined {
  return ENGINE_DEFINITIONS.find((engine) => engine.modelPrefixes.some((prefix) => model.startsWith(prefix)));
}

/**
 * The engine a model runs on: `gpt-live*` is GPT-Live, `gpt-realtime*` the Realtime API. A model no
 * engine claims (only in old records: validation refuses it) counts as the first engine's.
 *
 * @example
 * ```ts
 * engineForModel("gpt-live-1.1"); // "live"
 * engineForModel("gpt-realtime-2.1"); // "realtime"
 * ```
 */
export function engineForModel(model: string): EngineId {
  return (findEngineForModel(model) ?? ENGINE_DEFINITIONS[0]).id;
}

/**
 * Why no engine serves `model`, naming the accepted prefixes, or undefined when one does.
 *
 * @example
 * ```ts
 * modelProblem("gpt-4o-mini");
 * // '"gpt-4o-mini" is not a model of any engine; use a name starting with gpt-realtime (Realtime) or gpt-live (GPT-Live)'
 * ```
 */
export function modelProblem(model: string): string | undefined {
  if (findEngineForModel(model) !== undefined) return undefined;
  const prefixes = ENGINE_DEFINITIONS.map((engine) =>
    `${engine.modelPrefixes.join(" or ")} (${engine.name}, e.g. "${engine.exampleModel}")`
  );
  const name = model.length > 60 ? `${model.slice(0, 60)}…` : model;
  return `${JSON.stringify(name)} is not a model of any engine; use a name starting with ${
    prefixes.join(" or ")
  }`;
}

/** Picks the engine serving a model. */
export type EngineChooser = (model: string) => Engine<EngineId>;

/**
 * Builds the engines once and returns the chooser the relay uses.
 *
 * @example
 * ```ts
 * const engineFor = createEngineChooser({ realtimeUrl: DEFAULT_REALTIME_URL, liveUrl: DEFAULT_LIVE_URL });
 * engineFor("gpt-realtime-2.1").id; // "realtime"
 * engineFor("gpt-live-1.1").id; // "live"
 * ```
 */
export function createEngineChooser(endpoints: EngineEndpoints): EngineChooser {
  const engines = new Map<EngineId, Engine<EngineId>>(
    ENGINE_DEFINITIONS.map((engine) => [engine.id, engine.create(endpoints)]),
  );
  return (model) => engines.get(engineForModel(model))!;
}
