/**
 * Agent audio to the caller and barge-in: audio goes to Twilio with the marks of the playback clock
 * (what the caller has heard), and the caller cutting in stops the agent.
 *
 * On an engine that truncates (Realtime), a cut names every item with unheard audio and what was
 * heard of it, plus the answer in progress; every later delta of those answers is stale and dropped.
 * Gating (`interruptions.minSpeechMs`) waits that long before cutting, and a short sound that ends
 * sooner cuts nothing. The caller's speech counts (a pending hang-up is cancelled, see `actions.ts`)
 * when it would cut: at once without a gate, once it lasted the gate with one (whether or not the
 * agent is talking), never for a shorter sound. A cut sends Twilio `clear`; the relay adds the
 * engine's messages.
 *
 * On an engine whose model owns barge-in (GPT-Live) nothing is cut: the model decides whether to
 * stop. Parley only keeps the caller from hearing stale audio: when the model has stopped while
 * Twilio still holds more than {@linkcode STALE_AUDIO_MS} unplayed and the caller is speaking, the
 * model gave way mid-answer, and the rest of that answer is cleared. Parley hears of the caller's
 * speech from GPT-Live's transcript, which lags the audio: when it comes after the stop, what the stop
 * left decides, and whatever of it Twilio may still hold is cleared.
 *
 * @module
 */

import type { RelayCounters } from "../calls/relay_counters.ts";
import { mulawDurationMs } from "../twilio/media_stream.ts";
import type { CallTap } from "./frame_tap.ts";
import { RecentMap, RecentSet } from "../recent.ts";
import { type InterruptedItem, PlaybackClock } from "./playback_clock.ts";
import type { TurnTimer } from "./turn_timer.ts";
import type { TwilioLeg } from "./twilio_leg.ts";

/** Unplayed agent audio above this, left behind by a model that stopped for the caller, is cleared. */
export const STALE_AUDIO_MS = 200;

/**
 * Cut answers (whose late deltas are dropped) and cut items (what was heard of them, for their
 * transcript) remembered at most, each: the oldest go. Late deltas and transcripts come moments after
 * a cut, and a call may last hours with a cut every few seconds.
 */
export const MAX_REMEMBERED_CUTS = 64;

/** The caller cut the agent off. */
export interface Cut {
  /** When the caller's speech counted as an interruption (monotonic ms). */
  at: number;
  /** Items with unheard audio, the one playing first with what was heard. */
  items: InterruptedItem[];
  /** The answer in progress upstream, to cancel. */
  activeResponse: string | undefined;
  /** True when the model had already stopped and only its unplayed audio was cleared (GPT-Live). */
  staleOnly: boolean;
}

/** Options of {@linkcode BargeIn}. */
export interface BargeInOptions {
  /** Where agent audio, marks and `clear` go. */
  leg: TwilioLeg;
  /** Told when an answer's audio is sent and heard. */
  turns: TurnTimer;
  /** Hot-path counters (frames to Twilio, stale deltas dropped). */
  counters: RelayCounters;
  /** Monotonic clock, ms. */
  now: () => number;
  /** Called after `clear` went out, when the caller cut in (at once, or after the gate). */
  onCut: (cut: Cut) => void;
  /** The model stopped speaking with `unplayedMs` still at Twilio (engines whose model owns barge-in). */
  onModelStopped?: (unplayedMs: number) => void;
}

/**
 * One call's playback and barge-in state.
 *
 * @example
 * ```ts
 * const bargeIn = new BargeIn({ now: () => performance.now(), onCut: (cut) => … });
 * const marks = bargeIn.agentAudio("resp_1", "item_1", 100, performance.now()); // undefined: stale
 * ```
 */
export class BargeIn {
  readonly #clock = new PlaybackClock();
  readonly #leg: TwilioLeg;
  readonly #turns: TurnTimer;
  readonly #counters: RelayCounters;
  readonly #now: () => number;
  readonly #onCut: (cut: Cut) => void;
  /** Speech shorter than this does not cut the agent off. */
  gateMs = 0;
  /** The model owns barge-in (GPT-Live): no cuts, only stale audio is cleared. */
  modelOwnsBargeIn = false;
  /** Told what the caller hears of the agent (set at `start` when a frame tap listens). */
  tap: CallTap | undefined;
  #callerSpeaking = false;
  readonly #onModelStopped: ((unplayedMs: number) => void) | undefined;
  #activeResponse: string | undefined;
  /** Unplayed audio when the model last stopped (engines whose model owns barge-in), ms. */
  #leftAtStopMs = 0;
  /** Answers cut off by the caller: their late deltas are dropped (the last {@linkcode MAX_REMEMBERED_CUTS}). */
  readonly #dropped = new RecentSet<string>(MAX_REMEMBERED_CUTS);
  /** Items cut off, with what was heard: for the transcript (the last {@linkcode MAX_REMEMBERED_CUTS}). */
  readonly #heard = new RecentMap<string, number>(MAX_REMEMBERED_CUTS);
  #gateTimer: ReturnType<typeof setTimeout> | undefined;
  /** The gate timer holds a cut (the agent was talking when the caller started), not only the count. */
  #gateHoldsCut = false;
  /** Item of the latest agent audio sent to Twilio. */
  #lastItem: string | undefined;

  /** A call's state, empty. */
  constructor(options: BargeInOptions) {
    this.#leg = options.leg;
    this.#turns = options.turns;
    this.#counters = options.counters;
    this.#now = options.now;
    this.#onCut = options.onCut;
    this.#onModelStopped = options.onModelStopped;
  }

  /** An answer started upstream. */
  responseStarted(responseId: string): void {
    this.#activeResponse = responseId;
    this.#leftAtStopMs = 0;
  }

  /** An answer ended upstream: the tail of its audio is marked. */
  responseDone(responseId: string): void {
    if (this.#activeResponse === responseId) this.#activeResponse = undefined;
    this.audioDone(responseId, undefined);
    if (this.modelOwnsBargeIn) {
      this.#leftAtStopMs = this.#clock.unplayedMs(this.#now());
      this.#onModelStopped?.(this.#leftAtStopMs);
      this.#clearIfStale();
    }
  }

  /** Agent audio (base64 μ-law) to the caller, untouched, between the clock's marks. Hot path. */
  agentAudio(responseId: string, itemId: string, delta: string): void {
    if (this.#dropped.has(responseId)) {
      this.#counters.staleDeltasDropped++;
      return;
    }
    if (!this.#leg.started || delta === "") return;
    const tap = this.tap;
    // The clock is read only when the time is used (a read costs about as much as parsing the delta):
    // playback was idle (this audio restarts it), an answer's first audio (turn latency), or a tap.
    const idle = this.#clock.heardAll();
    const firstAudio = this.#turns.awaitsAudio(responseId);
    const now = idle || firstAudio || tap !== undefined ? this.#now() : NaN;
    const queuedMs = tap === undefined ? 0 : this.#clock.unplayedMs(now);
    const itemMs = tap === undefined ? 0 : this.#clock.sentOf(itemId);
    const { startMark, endMark } = this.#clock.sent(itemId, responseId, mulawDurationMs(delta), now, idle);
    if (!this.#leg.sendAudio(delta, startMark, endMark)) return;
    tap?.agentAudio(now, queuedMs, itemId, itemMs, delta);
    this.#counters.framesToTwilio++;
    this.#lastItem = itemId;
    if (firstAudio) this.#turns.audioSent(responseId, itemId, now);
  }

  /** Agent audio sent to Twilio and not yet played, ms: how long audio sent now waits to be heard. */
  queuedMs(): number {
    return this.#clock.unplayedMs(this.#now());
  }

  /** An item's audio is complete (`itemId` undefined: the latest): its tail is marked. */
  audioDone(responseId: string, itemId: string | undefined): void {
    const item = itemId ?? this.#lastItem;
    if (item === undefined || !this.#leg.started || this.#dropped.has(responseId)) return;
    const mark = this.#clock.finish(item);
    if (mark !== undefined) this.#leg.sendMark(mark);
  }

  /** Twilio echoed the mark `name`: playback reached it. */
  markEcho(name: string): void {
    const now = this.#now();
    const echo = this.#clock.echo(name, now);
    if (echo !== undefined) this.#turns.heard(echo.itemId, now);
  }

  /** Agent audio sent but not yet played at `now`, ms. */
  unplayedMs(now: number): number {
    return this.#clock.unplayedMs(now);
  }

  /** True when Twilio's marks say the caller heard all agent audio sent (nothing left to play). */
  heardAll(): boolean {
    return this.#clock.heardAll();
  }

  /** What the caller heard of `itemId` if it was cut off, ms. */
  heardOf(itemId: string): number | undefined {
    return this.#heard.get(itemId);
  }

  /**
   * The caller started speaking: cut at once, or after the gate if the agent is talking. `counts` is
   * told when the speech counts, before any cut: at once without a gate (or when the model owns
   * barge-in), else once it has lasted {@linkcode gateMs}, agent talking or not; a shorter sound
   * never counts ({@linkcode weighing} until then).
   */
  callerStarted(counts?: () => void): void {
    this.#callerSpeaking = true;
    if (this.modelOwnsBargeIn) {
      counts?.();
      this.#clearIfStale();
      return;
    }
    if (this.gateMs <= 0) {
      counts?.();
      this.cut(this.#now());
      return;
    }
    if (this.#gateTimer !== undefined) return;
    const cuts = this.#clock.unplayedMs(this.#now()) > 0 || this.#activeResponse !== undefined;
    this.#gateHoldsCut = cuts;
    this.#gateTimer = setTimeout(() => {
      this.#gateTimer = undefined;
      counts?.();
      if (cuts) this.cut(this.#now());
    }, this.gateMs);
  }

  /**
   * True while the gate weighs the caller's sound: it has lasted less than {@linkcode gateMs} and not
   * stopped, so whether it counts is not known yet.
   */
  get weighing(): boolean {
    return this.#gateTimer !== undefined;
  }

  /** The caller stopped speaking. True when the gate held a cut and the sound ended sooner: nothing was cut. */
  callerStopped(): boolean {
    this.#callerSpeaking = false;
    if (this.#gateTimer === undefined) return false;
    clearTimeout(this.#gateTimer);
    this.#gateTimer = undefined;
    return this.#gateHoldsCut;
  }

  /** Cuts the agent off at `at`: clears Twilio, forgets unheard audio, drops the cut answers' deltas. */
  cut(at: number): void {
    // Cleared whenever Twilio may still hold audio, even when the clock reckons it all played (Twilio
    // ran dry and is behind the reckoning): none of it may play after the cut.
    const mayBePlaying = this.#clock.mayBePlaying(at);
    const items = this.#clock.interrupt(at);
    if (mayBePlaying) this.#leg.clear();
    this.tap?.agentCut(at, items);
    const activeResponse = this.#activeResponse;
    for (const item of items) {
      this.#dropped.add(item.responseId);
      this.#heard.set(item.itemId, item.heardMs);
    }
    // Deltas of the answer in progress may still be in flight: none of them may reach the caller.
    if (activeResponse !== undefined) this.#dropped.add(activeResponse);
    this.#activeResponse = undefined;
    this.#onCut({ at, items, activeResponse, staleOnly: false });
  }

  /** The model stopped while the caller speaks: clear what it left at Twilio, if it matters. */
  #clearIfStale(): void {
    if (!this.#callerSpeaking || this.#activeResponse !== undefined) return;
    const now = this.#now();
    const stale = this.#clock.unplayedMs(now) > STALE_AUDIO_MS ||
      (this.#leftAtStopMs > STALE_AUDIO_MS && this.#clock.mayBePlaying(now));
    if (!stale) return;
    this.#leftAtStopMs = 0;
    const items = this.#clock.interrupt(now);
    this.#leg.clear();
    this.tap?.agentCut(now, items);
    for (const item of items) this.#heard.set(item.itemId, item.heardMs);
    this.#onCut({ at: now, items, activeResponse: undefined, staleOnly: true });
  }

  /**
   * The session went away mid-call: agent audio still unplayed at Twilio is cleared (a new session
   * cannot continue that answer, and the caller would talk over it with no one listening), and any
   * late delta of its answers is dropped. Returns the unplayed ms cleared.
   */
  sessionLost(): number {
    const now = this.#now();
    const unplayed = this.#clock.unplayedMs(now);
    const mayBePlaying = this.#clock.mayBePlaying(now);
    const items = this.#clock.interrupt(now);
    if (mayBePlaying) this.#leg.clear();
    this.tap?.agentCut(now, items);
    for (const item of items) this.#dropped.add(item.responseId);
    if (this.#activeResponse !== undefined) this.#dropped.add(this.#activeResponse);
    this.#activeResponse = undefined;
    clearTimeout(this.#gateTimer);
    this.#gateTimer = undefined;
    this.#callerSpeaking = false;
    return unplayed;
  }

  /** True between the caller's speech starting and stopping (as the engine reports it). */
  get callerSpeaking(): boolean {
    return this.#callerSpeaking;
  }

  /** True when no agent audio is unplayed, no answer is under way and the caller is not speaking. */
  quiet(): boolean {
    return this.#clock.unplayedMs(this.#now()) <= 0 && this.#activeResponse === undefined &&
      !this.#callerSpeaking && this.#gateTimer === undefined;
  }

  /** The answer being generated now (started, not done, not cut), if any. */
  get activeResponse(): string | undefined {
    return this.#activeResponse;
  }

  /** Stops the gate timer (the call ended). */
  dispose(): void {
    clearTimeout(this.#gateTimer);
    this.#gateTimer = undefined;
  }
}
