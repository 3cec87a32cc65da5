/**
 * The calls this instance relays: one relay per accepted media socket (Twilio's or the softphone's),
 * found by CallSid for hang-up and answering-machine results, and reported to {@linkcode Admission}
 * so capacity and drain count them.
 *
 * @module
 */

import type { Admission } from "../calls/admission.ts";
import type { CallHub } from "../calls/call_hub.ts";
import { type CallRelay, type CallRelayOptions, startCallRelay } from "./call_relay.ts";
import type { Prewarm } from "./prewarmed_session.ts";

/** What every relay is started with; the socket's CallSid, events and pre-warm are added per call. */
export type RelayBase = Omit<CallRelayOptions, "onEvent" | "expectedCallSid" | "prewarm">;

/** The running relays of one instance. */
export class LiveRelays {
  readonly #base: RelayBase;
  readonly #hub: CallHub;
  readonly #admission: Admission;
  readonly #all = new Set<CallRelay>();
  readonly #byCall = new Map<string, CallRelay>();

  /** No relay yet. */
  constructor(base: RelayBase, hub: CallHub, admission: Admission) {
    this.#base = base;
    this.#hub = hub;
    this.#admission = admission;
  }

  /** Calls being relayed now. */
  get size(): number {
    return this.#all.size;
  }

  /** The relay of `callSid` once its stream started here, if it runs on this instance. */
  get(callSid: string): CallRelay | undefined {
    return this.#byCall.get(callSid);
  }

  /**
   * Relays `socket` for `callSid` (a `start` for another call is refused), on the session pre-warmed
   * for it if any, and tracks it until it ends.
   */
  readonly start = (socket: WebSocket, callSid: string, prewarm?: Prewarm): void => {
    const relay: CallRelay = startCallRelay(socket, {
      ...this.#base,
      onEvent: (event) => {
        if (event.type === "call.started") this.#byCall.set(event.callSid, relay);
        this.#hub.emit(event);
      },
      expectedCallSid: callSid,
      ...(prewarm === undefined ? {} : { prewarm }),
    });
    this.#all.add(relay);
    this.#admission.connected(callSid);
    relay.done.then(() => {
      this.#all.delete(relay);
      if (this.#byCall.get(callSid) === relay) this.#byCall.delete(callSid);
      this.#admission.finished(callSid);
    });
  };

  /** Ends every call and resolves once every relay finished. */
  async shutdown(): Promise<void> {
    for (const relay of this.#all) relay.shutdown();
    await Promise.all([...this.#all].map((relay) => relay.done));
  }
}
