/**
 * What a call tells the world: the seed's log lines (`Stream started`, `User said`, `AI said`, …)
 * and the call events the store, metrics and live feeds listen to. Nothing here is on the audio
 * path's critical part: the relay reports after it has sent.
 *
 * @module
 */

import type { CallEvent, CallEventListener, EndReason } from "../calls/call_events.ts";
import type { Logger } from "../log.ts";
import type { InterruptedItem } from "./playback_clock.ts";
import type { TurnLatency } from "./turn_timer.ts";

type EventBody = DistributiveOmit<CallEvent, "at" | "callSid">;

/**
 * Logs and emits one call's events. Events need the CallSid, so none is emitted before `start`.
 *
 * @example
 * ```ts
 * const report = new CallReporter(log, { onEvent, wallClock: Date.now });
 * report.started("CA…");
 * report.transcript("caller", "Hello", undefined);
 * ```
 */
export class CallReporter {
  readonly #log: Logger;
  readonly #onEvent: CallEventListener;
  readonly #wall: () => number;
  #callSid: string | undefined;

  /** Reports through `log` and `onEvent`, stamping events with `wallClock`. */
  constructor(log: Logger, options: { onEvent: CallEventListener; wallClock: () => number }) {
    this.#log = log;
    this.#onEvent = options.onEvent;
    this.#wall = options.wallClock;
  }

  /** The call's CallSid is known (Twilio's `start`): events can be emitted from now on. */
  started(callSid: string): void {
    this.#callSid = callSid;
  }

  /** Emits a call event (dropped before `start`). */
  emit(event: EventBody): void {
    if (this.#callSid === undefined) return;
    this.#onEvent({ ...event, at: this.#wall(), callSid: this.#callSid } as CallEvent);
  }

  /** A finished turn: the seed's `User said` / `AI said` line and a transcript event. */
  transcript(speaker: "caller" | "agent", text: string, heardMs: number | undefined): void {
    if (speaker === "caller") {
      if (text.trim() === "") return;
      this.#log.info(`User said: "${text}"`);
      this.emit({ type: "transcript", speaker: "caller", text });
      return;
    }
    const cut = heardMs === undefined ? "" : ` (cut off after ${Math.round(heardMs)} ms)`;
    this.#log.info(`AI said: "${text}"${cut}`);
    this.emit({
      type: "transcript",
      speaker: "agent",
      text,
      ...(heardMs === undefined ? {} : { interruptedAtMs: Math.round(heardMs) }),
    });
  }

  /** One turn's latency. */
  turnLatency({ firstAudioSentMs, firstAudioHeardMs }: TurnLatency): void {
    this.#log.info(
      firstAudioHeardMs === undefined
        ? `Turn latency: ${firstAudioSentMs} ms (first audio sent; playback not confirmed)`
        : `Turn latency: ${firstAudioHeardMs} ms (first audio sent after ${firstAudioSentMs} ms)`,
    );
    this.emit({ type: "turn.latency", firstAudioSentMs, firstAudioHeardMs });
  }

  /** The caller cut the agent off: `first` is the item that was playing. */
  interruption(first: InterruptedItem, clearLatencyMs: number): void {
    this.#log.info(
      `Caller interrupted: truncated ${first.itemId} at ${Math.floor(first.heardMs)} of ${
        Math.round(first.sentMs)
      } ms sent`,
    );
    this.emit({
      type: "interruption",
      itemId: first.itemId,
      audioEndMs: Math.floor(first.heardMs),
      clearLatencyMs: Math.round(clearLatencyMs * 1000) / 1000,
    });
  }

  /** The call ended: one line with the reason (an error unless the caller or the server ended it). */
  ended(label: string, reason: EndReason, detail: string): void {
    const line = `Call ended: ${label} reason=${reason} (${detail})`;
    if (reason === "caller_hung_up" || reason === "server_shutdown") this.#log.info(line);
    else this.#log.error(line);
    this.emit({ type: "call.ended", reason, detail });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
