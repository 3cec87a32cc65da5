/**
 * The engines Parley speaks, one line each, and where they are chosen: by the model's name.
 *
 * Adding an engine: a folder under `src/engines/` exporting an {@linkcode EngineDefinition}, and a
 * line in {@linkcode ENGINE_DEFINITIONS}. Everything else (persona fields and checks, voices,
 * prices, endpoints) is read from the definitions through {@linkcode createEngineRegistry}.
 *
 * @module
 */

import type { Engine, EngineDefinition, EngineEndpoints } from "./engine.ts";
import { LIVE_ENGINE } from "./live/definition.ts";
import type { PriceTable } from "./price_table.ts";
import { REALTIME_ENGINE } from "./realtime/definition.ts";
import type { EngineUsage, UsageSummary } from "./usage.ts";

export type { EngineEndpoints } from "./engine.ts";

/** Every engine, the default (the one serving OPENAI_REALTIME_MODEL's kind of model) first. */
export const ENGINE_DEFINITIONS = [
  REALTIME_ENGINE,
  LIVE_ENGINE,
] as const;

/** One engine id: `realtime` (turn-based, per token) or `live` (GPT-Live, full-duplex, per minute). */
export type EngineId = typeof ENGINE_DEFINITIONS[number]["id"];

/** The default engine's id (the first registered): the engine a voice is checked against when none is known. */
export const DEFAULT_ENGINE: EngineId = ENGINE_DEFINITIONS[0].id;

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I
  : never;

/** The persona fields every engine of `Definitions` owns, joined: what a persona may set for them. */
export type PersonaSettingsOf<Definitions extends readonly EngineDefinition<string, object>[]> =
  UnionToIntersection<
    Definitions[number] extends infer D ? D extends EngineDefinition<string, infer S> ? S : never : never
  >;

/** The persona fields the registered engines own (`vad`, `reasoning`… from `realtime/settings.ts`). */
export type EnginePersonaSettings = PersonaSettingsOf<typeof ENGINE_DEFINITIONS>;

/** Picks the engine serving a model. */
export type EngineChooser = (model: string) => Engine<EngineId>;

/** The engines' endpoints read from the environment, and the problems found, each naming its variable. */
export interface EndpointsReading {
  endpoints: EngineEndpoints;
  problems: string[];
}

/** What Parley asks of its list of engines; built by {@linkcode createEngineRegistry}. */
export interface EngineRegistry<Id extends string = string> {
  /** The definitions, the default engine first. */
  readonly definitions: readonly EngineDefinition<Id, object>[];
  /** The engine ids, in order. */
  readonly ids: readonly Id[];
  /** The definition of engine `id`. */
  definition(id: Id): EngineDefinition<Id, object>;
  /** The engine serving `model`, or undefined when no engine's prefix matches. */
  findForModel(model: string): EngineDefinition<Id, object> | undefined;
  /** The engine a model runs on; a model no engine claims counts as the first engine's. */
  engineForModel(model: string): Id;
  /** Why no engine serves `model`, naming the accepted prefixes, or undefined when one does. */
  modelProblem(model: string): string | undefined;
  /** The voices engine `id` offers. */
  voicesFor(id: Id): readonly string[];
  /** The names of the persona fields the engines own, in order. */
  settingFields(): string[];
  /** Built-in prices of every engine's models, joined. */
  prices(): PriceTable;
  /** What a call record keeps of a usage report of engine `id` (its own `summarize`). */
  describeUsage(id: Id, usage: EngineUsage): UsageSummary;
  /** The cost in USD of a usage report of engine `id` on `model` (its own `price`), or null when unknown. */
  priceUsage(id: Id, model: string, usage: EngineUsage, prices: PriceTable): number | null;
  /**
   * The call's usage report from the latest report of each of its sessions of engine `id`, oldest
   * first (its own `acrossSessions`): their sum where reports are a session's total so far; undefined
   * where each report stands on its own (nothing to add up).
   */
  usageAcrossSessions(id: Id, latest: readonly EngineUsage[]): EngineUsage | undefined;
  /** Each engine's endpoint: its variable read through `read`, else its default; problems name the variable. */
  readEndpoints(read: (variable: string) => string | undefined): EndpointsReading;
  /** Builds the engines once (each at its endpoint, else its default) and returns the chooser. */
  createChooser(endpoints?: EngineEndpoints): (model: string) => Engine<Id>;
}

/**
 * Builds the registry of `definitions` (the default engine first). The app uses it with
 * {@linkcode ENGINE_DEFINITIONS}; a test may build one with an engine of its own.
 *
 * @example
 * ```ts
 * const registry = createEngineRegistry(ENGINE_DEFINITIONS);
 * registry.engineForModel("gpt-live-1.1"); // "live"
 * ```
 */
export function createEngineRegistry<const Definitions extends readonly EngineDefinition<string, object>[]>(
  definitions: Definitions,
): EngineRegistry<Definitions[number]["id"]> {
  type Id = Definitions[number]["id"];
  const list = definitions as readonly EngineDefinition<Id, object>[];
  if (list.length === 0) throw new Error("createEngineRegistry: no engine definitions");
  const findForModel = (model: string) =>
    list.find((engine) => engine.modelPrefixes.some((prefix) => model.startsWith(prefix)));
  const definition = (id: Id) => {
    const found = list.find((engine) => engine.id === id);
    if (found === undefined) {
      throw new Error(`No engine "${id}": the engines are ${list.map((e) => e.id).join(", ")}`);
    }
    return found;
  };
  return {
    definitions: list,
    ids: list.map((engine) => engine.id),
    definition,
    findForModel,
    engineForModel: (model) => (findForModel(model) ?? list[0]!).id,
    modelProblem(model) {
      if (findForModel(model) !== undefined) return undefined;
      const prefixes = list.map((engine) =>
        `${engine.modelPrefixes.join(" or ")} (${engine.name}, e.g. "${engine.exampleModel}")`
      );
      const name = model.length > 60 ? `${model.slice(0, 60)}…` : model;
      return `${JSON.stringify(name)} is not a model of any engine; use a name starting with ${
        prefixes.join(" or ")
      }`;
    },
    voicesFor: (id) => definition(id).voices,
    settingFields: () => list.flatMap((engine) => Object.keys(engine.settingFields)),
    prices: () => Object.freeze(Object.assign({}, ...list.map((engine) => engine.prices))),
    describeUsage: (id, usage) => definition(id).usage.summarize(usage),
    priceUsage: (id, model, usage, prices) => definition(id).usage.price(model, usage, prices),
    usageAcrossSessions: (id, latest) => definition(id).usage.acrossSessions?.(latest),
    readEndpoints(read) {
      const endpoints: Record<string, string> = {};
      const problems: string[] = [];
      for (const { id, endpoint } of list) {
        const url = read(endpoint.variable) ?? endpoint.defaultUrl;
        endpoints[id] = url;
        const parsed = URL.canParse(url) ? new URL(url) : undefined;
        const problem = parsed === undefined || !["wss:", "ws:"].includes(parsed.protocol)
          ? "is not a ws:// or wss:// URL"
          : endpoint.problem?.(parsed);
        if (problem !== undefined) problems.push(`${endpoint.variable}: ${JSON.stringify(url)} ${problem}`);
      }
      return { endpoints, problems };
    },
    createChooser(endpoints = {}) {
      const engines = new Map<Id, Engine<Id>>(
        list.map((engine) => [engine.id, engine.create(endpoints[engine.id] ?? engine.endpoint.defaultUrl)]),
      );
      return (model) => engines.get((findForModel(model) ?? list[0]!).id)!;
    },
  };
}

/** The app's registry: {@linkcode ENGINE_DEFINITIONS}. */
export const ENGINE_REGISTRY: EngineRegistry<EngineId> = createEngineRegistry(ENGINE_DEFINITIONS);

/** The engine ids, in the registry's order. */
export const ENGINES: readonly EngineId[] = ENGINE_REGISTRY.ids;

/** The definition of engine `id`. */
export function engineDefinition(id: EngineId): EngineDefinition<EngineId, object> {
  return ENGINE_REGISTRY.definition(id);
}

/** The engine serving `model`, or undefined when no engine's prefix matches. */
export function findEngineForModel(model: string): EngineDefinition<EngineId, object> | undefined {
  return ENGINE_REGISTRY.findForModel(model);
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
  return ENGINE_REGISTRY.engineForModel(model);
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
  return ENGINE_REGISTRY.modelProblem(model);
}

/**
 * Builds the engines once and returns the chooser the relay uses. An engine missing from
 * `endpoints` connects to its default URL.
 *
 * @example
 * ```ts
 * const engineFor = createEngineChooser(config.engineEndpoints);
 * engineFor("gpt-realtime-2.1").id; // "realtime"
 * engineFor("gpt-live-1.1").id; // "live"
 * ```
 */
export function createEngineChooser(endpoints: EngineEndpoints = {}): EngineChooser {
  return ENGINE_REGISTRY.createChooser(endpoints);
}
