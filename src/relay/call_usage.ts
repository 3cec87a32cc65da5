/**
 * One call's usage over all its upstream sessions. A call may be served by several sessions in turn
 * (a reconnect after a drop, the session cap, a stall, a rollover, a pre-warmed session handed
 * over), and an engine that reports a session's total so far (GPT-Live's billed seconds) starts each
 * new session from 0 again: the call's usage is the sum of its sessions' latest reports, whatever
 * order they come in (a replaced session's last report may come after the new one's first). Engines
 * reporting one answer at a time (Realtime) are passed through as they are.
 *
 * @module
 */

import type { EngineUsage } from "../engines/usage.ts";
import { ENGINE_REGISTRY, type EngineId } from "../engines/registry.ts";

/** Turns one session's usage report into the call's. */
export type SessionUsage = (usage: EngineUsage) => EngineUsage;

/**
 * The latest usage report of each session of one call.
 *
 * @example
 * ```ts
 * const usage = new CallUsage();
 * const first = usage.session("live");
 * first({ seconds: 60 }); // { seconds: 60 }
 * const second = usage.session("live"); // the session was replaced
 * second({ seconds: 30 }); // { seconds: 90 }: the call's so far
 * ```
 */
export class CallUsage {
  readonly #sessions: { engine: EngineId; latest: EngineUsage | undefined }[] = [];

  /** One more session of engine `engine` serves the call: its reports go through the function returned. */
  session(engine: EngineId): SessionUsage {
    const mine: { engine: EngineId; latest: EngineUsage | undefined } = { engine, latest: undefined };
    this.#sessions.push(mine);
    return (usage) => {
      mine.latest = usage;
      const latest = this.#sessions.filter((s) => s.engine === engine && s.latest !== undefined);
      return ENGINE_REGISTRY.usageAcrossSessions(engine, latest.map((s) => s.latest)) ?? usage;
    };
  }
}
