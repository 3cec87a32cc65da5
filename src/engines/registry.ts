/**
 * Where engines are chosen: by the model's name (see {@linkcode engineForModel}).
 *
 * @module
 */

import type { Engine } from "./engine.ts";
import { createLiveEngine } from "./live/engine.ts";
import { createRealtimeEngine } from "./realtime/engine.ts";
import { engineForModel } from "./voices.ts";

/** The endpoints of each engine, from the config. */
export interface EngineEndpoints {
  /** OPENAI_REALTIME_URL. */
  realtimeUrl: string;
  /** OPENAI_LIVE_URL. */
  liveUrl: string;
}

/** Picks the engine serving a model. */
export type EngineChooser = (model: string) => Engine;

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
  const realtime = createRealtimeEngine(endpoints.realtimeUrl);
  const live = createLiveEngine(endpoints.liveUrl);
  return (model) => {
    switch (engineForModel(model)) {
      case "realtime":
        return realtime;
      case "live":
        return live;
    }
  };
}
