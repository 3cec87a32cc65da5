/**
 * What a call tells the world: the seed's log lines (`Stream started`, `User said`, `AI said`, …)
 * and the call events the store, metrics and live feeds listen to. Nothing here is on the audio
 * path's critical part: the relay reports after it has sent.
 *
 * @module
 */

import type { CallEvent, CallEventListener, EndReason } from "../calls/call_events.ts";
import type { EngineEvent } from "../engines/engine.ts";
import { engineForModel } from "../engines/registry.ts";
import type { Logger } from "../log.ts";
import { escapeLogText, excerpt } from "../log.ts";
import type { ToolCallReport } from "./actions.ts";
import type { InterruptedItem } from "./playback_clock.ts";
import type { TurnLatency } from "./turn_timer.ts";

type EventBody = DistributiveOmit<CallEvent, "at" | "callSid">;

/** Engine events about the session rather than the conversation. */
export type SessionNews = Exclude<
  EngineEvent,
  {
    type:
      | "agent.audio"
      | "agent.audio.done"
      | "caller.started"
      | "caller.stopped"
      | "response.started"
      | "response.done"
      | "transcript";
  }
>;

/**
 * Logs and emits one call's events. Events need the CallSid, so none is emitted before `start`.
 *
 * @example
 * ```ts
 * const report = new CallReporter(log, { connectionId: "c1", onEvent, wallClock: Date.now });
 * report.started("CA…");
 * report.transcript("caller", "Hello", undefined);
 * ```
 */
export class CallReporter {
  readonly #log: Logger;
  readonly #onEvent: CallEventListener;
  readonly #wall: () => number;
  readonly #connectionId: string;
  #callSid: string | undefined;
  #configured = false;
  /** `call.ended` went out, with the call's cost: usage reported later is not the record's. */
  #ended = false;

  /** Reports through `log` and `onEvent`, stamping events with `wallClock`. */
  constructor(
    log: Logger,
    options: { connectionId: string; onEvent: CallEventListener; wallClock: () => number },
  ) {
    this.#log = log;
    this.#connectionId = options.connectionId;
    this.#onEvent = options.onEvent;
    this.#wall = options.wallClock;
  }

  /** How log lines name the call: its CallSid once known, else the connection. */
  get label(): string {
    return this.#callSid === undefined ? `connection ${this.#connectionId}` : `CallSid=${this.#callSid}`;
  }

  /** How the end line names the call: before `start`, also by the CallSid its stream token named, if any. */
  endLabel(expectedCallSid: string | undefined): string {
    return this.#callSid === undefined && expectedCallSid !== undefined
      ? `${this.label} (stream of CallSid=${expectedCallSid})`
      : this.label;
  }

  /**
   * The call's CallSid is known (Twilio's `start`): events can be emitted from now on. Returns the
   * wall-clock time of this moment, the call's start (`call.started` is stamped with it).
   */
  started(callSid: string): number {
    this.#callSid = callSid;
    return this.#wall();
  }

  /** Emits a call event (dropped before `start`), stamped now or at `at` (wall-clock ms). */
  emit(event: EventBody, at: number = this.#wall()): void {
    if (this.#callSid === undefined) return;
    this.#onEvent({ ...event, at, callSid: this.#callSid } as CallEvent);
  }

  /**
   * News about the upstream session (configured, usage, notices, errors, unreadable messages, the
   * server's close). Returns the reason in plain words when it ends the call.
   */
  sessionEvent(event: SessionNews, model: string): string | undefined {
    switch (event.type) {
      case "session.ready":
        if (!this.#configured && this.#callSid !== undefined) {
          this.#configured = true;
          this.#log.info(
            `Session configured${event.sessionId === undefined ? "" : ` (session ${event.sessionId})`}`,
          );
          this.emit({ type: "session.configured" });
        }
        return undefined;
      case "usage":
        if (!this.#ended) {
          this.emit({ type: "usage", model, engine: engineForModel(model), usage: event.usage });
        }
        return undefined;
      case "session.closed":
        return event.expected ? undefined : event.detail;
      case "notice":
        this.#log.info(
          `OpenAI notice for ${this.label}: ${excerpt(event.code, 64)}: ${excerpt(event.message, 300)}`,
        );
        return undefined;
      case "transcript.failed":
        this.#log.warn(
          `${event.speaker === "caller" ? "User" : "AI"} words not transcribed on ${this.label}: ${
            excerpt(event.reason, 300)
          }`,
        );
        return undefined;
      case "tool.call":
        this.#log.warn(
          `Ignored a tool call "${excerpt(event.name, 64)}" on ${this.label}: the persona has no tools`,
        );
        return undefined;
      case "error": {
        // The code is the server's to choose: cut, as the message is, so one event cannot write a huge line.
        const code = excerpt(event.code, 64) || "error";
        const line = `OpenAI error for ${this.label}: ${code}: ${excerpt(event.message, 300)}`;
        if (event.endsCall !== undefined) {
          this.#log.error(line);
        } else {
          // The same error over and over (a stuck exchange, a misbehaving proxy): a line now and then, counted.
          this.#log.errorRateLimited(`upstream-error-${this.#connectionId}-${code}`, line);
        }
        return event.endsCall;
      }
      case "invalid":
        this.#log.warnRateLimited(
          `upstream-invalid-${this.#connectionId}`,
          `Unreadable event from OpenAI: ${event.problem}`,
        );
        return undefined;
      case "ignored":
        return undefined;
    }
  }

  /** An answer ended: a warning when it failed, and its usage report (engines reporting per answer). */
  responseDone(event: Extract<EngineEvent, { type: "response.done" }>, model: string): void {
    if (event.failure !== undefined) {
      this.#log.warn(
        `Response ${excerpt(event.failure.status, 40)} for ${this.label}: ${
          excerpt(event.failure.reason, 300)
        }`,
      );
    }
    if (event.usage !== undefined) {
      this.emit({ type: "usage", model, engine: engineForModel(model), usage: event.usage });
    }
  }

  /**
   * A finished turn: the seed's `User said` / `AI said` line and a transcript event; `spokenAgoMs`, when
   * known, is how long ago the line began to be heard (negative: it has yet to play).
   */
  transcript(
    speaker: "caller" | "agent",
    text: string,
    heardMs: number | undefined,
    spokenAgoMs?: number,
  ): void {
    const at = this.#wall();
    const spoken = spokenAgoMs === undefined ? {} : { spokenAt: Math.round(at - spokenAgoMs) };
    if (speaker === "caller") {
      if (text.trim() === "") return;
      this.#log.info(`User said: "${text}"`);
      this.emit({ type: "transcript", speaker: "caller", text, ...spoken }, at);
      return;
    }
    const cut = heardMs === undefined ? "" : ` (cut off after ${Math.round(heardMs)} ms)`;
    this.#log.info(`AI said: "${text}"${cut}`);
    this.emit({
      type: "transcript",
      speaker: "agent",
      text,
      ...(heardMs === undefined ? {} : { interruptedAtMs: Math.round(heardMs) }),
      ...spoken,
    }, at);
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

  /**
   * The caller cut the agent off: `first` is the item that was playing. `staleOnly`: the model had
   * stopped on its own (GPT-Live) and only its unplayed audio was cleared.
   */
  interruption(first: InterruptedItem, clearLatencyMs: number, staleOnly = false): void {
    const at = `${Math.floor(first.heardMs)} of ${Math.round(first.sentMs)} ms sent`;
    this.#log.info(
      staleOnly
        ? `Caller interrupted: the agent stopped; cleared the rest of ${first.itemId} at ${at}`
        : `Caller interrupted: truncated ${first.itemId} at ${at}`,
    );
    this.emit({
      type: "interruption",
      itemId: first.itemId,
      audioEndMs: Math.floor(first.heardMs),
      clearLatencyMs: Math.round(clearLatencyMs * 1000) / 1000,
    });
  }

  /** The wall clock (epoch ms), as events are stamped. */
  wallNow(): number {
    return this.#wall();
  }

  /**
   * The call ended (at `at`, wall-clock ms; now by default): one line with the reason (an error unless
   * the caller or the server ended it).
   */
  ended(label: string, reason: EndReason, detail: string, at: number = this.#wall()): void {
    const line = `Call ended: ${label} reason=${reason} (${detail})`;
    if (NORMAL_ENDS.has(reason)) this.#log.info(line);
    else this.#log.error(line);
    this.#ended = true;
    this.emit({ type: "call.ended", reason, detail }, at);
  }

  /** A tool call finished: one log line (arguments already truncated) and a `tool.called` event. */
  toolCalled(report: ToolCallReport): void {
    this.#log.info(
      `Tool call: ${this.label} ${excerpt(report.name, 64)}(${
        escapeLogText(report.arguments)
      }) → ${report.status}, ` +
        `${report.resultBytes} B in ${report.durationMs} ms`,
    );
    this.emit({ type: "tool.called", ...report });
  }
}

/** End reasons that are a call going as planned: logged as info, not error. */
const NORMAL_ENDS: ReadonlySet<EndReason> = new Set([
  "caller_hung_up",
  "hung_up_by_user",
  "server_shutdown",
  "agent_hung_up",
  "transferred",
  "voicemail_left",
  "max_call_minutes",
]);

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
