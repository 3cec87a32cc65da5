/**
 * Upstream → Twilio: the engine's events routed to the call's parts. Agent audio goes to Twilio with
 * its marks ({@linkcode BargeIn}), the caller's speech feeds barge-in, the stall watch and the turn
 * timer, answers and transcripts are reported, and a cut stops the agent where the caller stopped
 * hearing it.
 *
 * @module
 */

import type { EngineEvent } from "../engines/engine.ts";
import type { Cut } from "./barge_in.ts";
import { RecentMap } from "../recent.ts";
import type { CallParts } from "./call_parts.ts";
import type { UpstreamSession } from "./upstream_session.ts";
import { TONES_ITEM_PREFIX } from "./keypad_tones.ts";

/** Items whose start is remembered at most, awaiting their transcript (the oldest go first). */
const MAX_REMEMBERED_ITEMS = 64;

/** The agent's side of one call. */
export class AgentSide {
  readonly #p: CallParts;
  readonly #lost: (detail: string) => void;
  /**
   * The lines whose transcript has not come yet, by item: when each began to be heard (monotonic ms; a
   * caller item when its speech started, an agent item when its first audio plays out, after what
   * Twilio had queued), and whether its transcript is still due (an agent item's stops being due when
   * its answer is done: the transcript comes before `response.done`).
   */
  readonly #lines = new RecentMap<string, { from: number; responseId: string | undefined; due: boolean }>(
    MAX_REMEMBERED_ITEMS,
  );
  /** The agent item of the latest audio: a new one is remembered in {@linkcode #lines}. */
  #lastAgentItem: string | undefined;
  /** When `start` came, while the greeting's first audio is awaited (monotonic ms). */
  #greetingFrom: number | undefined;
  /** The pre-warmed session `start` claimed, while the greeting's first audio is awaited. */
  #greetingPrewarm: UpstreamSession | undefined;
  /** The call ended and waits for its last lines, its record still open (see {@linkcode afterEnd}). */
  #lingering = false;
  /** The caller's item while they speak (from speech start to stop), whose transcript is to come. */
  #speakingItem: string | undefined;

  /** The caller's speech counts (barge-in's gate let it through): it cancels a pending hang-up. */
  readonly #callerCounts = (): void => this.#p.actions?.callerSpoke();

  /** `lost` is told when a session-level event ends the session. */
  constructor(parts: CallParts, lost: (detail: string) => void) {
    this.#p = parts;
    this.#lost = lost;
  }

  /** One event of the engine. Hot path for `agent.audio`. */
  onEvent(event: EngineEvent): void {
    const p = this.#p;
    switch (event.type) {
      case "agent.audio":
        if (event.itemId !== this.#lastAgentItem) {
          this.#lastAgentItem = event.itemId;
          p.keeper.answerBegan();
          if (!this.#lines.has(event.itemId)) {
            // When the caller begins to hear it: after what Twilio had queued.
            this.#remember(event.itemId, p.now() + p.bargeIn.queuedMs(), event.responseId);
          }
        }
        p.bargeIn.agentAudio(event.responseId, event.itemId, event.delta);
        if (this.#greetingFrom !== undefined) this.#firstWord();
        return;
      case "agent.audio.done":
        p.keeper.answerAudioDone();
        return p.bargeIn.audioDone(event.responseId, event.itemId);
      case "caller.started":
        if (event.itemId) this.#remember(event.itemId, p.now(), undefined);
        this.#speakingItem = event.itemId || undefined;
        p.keeper.callerStarted();
        // A pending hang-up is cancelled when the speech counts, as barge-in's gate decides: at once
        // without `interruptions.minSpeechMs`, else once it lasted that long (a cough never counts).
        p.bargeIn.callerStarted(this.#callerCounts);
        return p.actions?.callerStarted(p.bargeIn.weighing);
      case "caller.stopped":
        this.#speakingItem = undefined;
        // Not from the reader's flush of a session that is over: the caller was speaking when it was lost.
        if (!p.session.ended) p.keeper.callerStopped(p.session.engine.capabilities.serverVad);
        if (p.bargeIn.callerStopped()) {
          p.log.info("Caller sound shorter than interruptions.minSpeechMs: agent keeps talking");
        }
        p.actions?.callerStopped();
        return p.turns.callerStopped(event.at ?? p.now());
      case "response.started":
        p.keeper.answerBegan();
        p.bargeIn.responseStarted(event.responseId);
        p.actions?.responseStarted(event.responseId);
        return p.turns.responseStarted(event.responseId);
      case "response.done":
        this.#answerDone(event.responseId);
        // A failed answer is none: one is still owed (the stall watch replaces a session that stays silent).
        if (event.failure?.status === "failed") p.keeper.answerFailed();
        // The reader's flush of a session that is over (GPT-Live ends its run of audio) finished no
        // answer: the keeper asks the new session for it again if the caller did not hear all of it.
        else if (!p.session.ended) p.keeper.answered();
        p.bargeIn.responseDone(event.responseId);
        p.report.responseDone(event, p.session.model);
        return p.actions?.responseDone(event.responseId);
      case "tool.call":
        // An answer that called a tool is not asked again if its session is lost: it would call it twice.
        p.keeper.toolCalled();
        return p.actions?.toolCall(event);
      case "transcript":
        return this.#transcript(event);
      case "caller.committed":
        return this.#committed(event.itemId);
      case "transcript.failed":
        // No transcript will come for it: the line is no longer awaited (a hang-up does not wait for it).
        if (event.itemId !== undefined) this.#lines.delete(event.itemId);
        p.report.sessionEvent(event, p.session.model);
        return;
      default: {
        // Session-level news: log lines and call events only, unless it ends the call.
        const ending = p.report.sessionEvent(event, p.session.model);
        if (ending !== undefined) this.#lost(ending);
      }
    }
  }

  /**
   * One event of the engine after the call ended: its last lines still go to the record. While the
   * call waits for them ({@linkcode lingering}), so does the end of the answer the hang-up cancelled:
   * its line is no longer due, and its usage is billed, so it counts in the call's cost. So does the
   * usage the session still reports until the call's end is told (GPT-Live's answer to the goodbye).
   */
  afterEnd(event: EngineEvent): void {
    const p = this.#p;
    switch (event.type) {
      case "transcript":
      case "transcript.failed":
      case "caller.committed":
        return this.onEvent(event);
      case "response.done":
        if (!this.#lingering) return;
        this.#answerDone(event.responseId);
        return p.report.responseDone(event, p.session.model);
      case "usage":
        p.report.sessionEvent(event, p.session.model);
        return;
    }
  }

  /**
   * True while the caller is speaking, their words not yet transcribed: a call that ends now has them
   * transcribed by the engine's `commitMessage` rather than lose them.
   */
  get callerMidSentence(): boolean {
    return this.#speakingItem !== undefined && this.#lines.get(this.#speakingItem)?.due === true;
  }

  /**
   * A finished line: remembered for a new session, and reported with how much of it was heard and
   * how long ago it began to be heard (the line is no longer awaited).
   */
  #transcript(event: Extract<EngineEvent, { type: "transcript" }>): void {
    const p = this.#p;
    p.keeper.remember({ speaker: event.speaker, text: event.text });
    let from = event.startedAt;
    if (event.itemId !== undefined) {
      from = this.#lines.get(event.itemId)?.from ?? from;
      this.#lines.delete(event.itemId);
    }
    // The agent spoke: no answer is owed unbegun. Not the reader's flush of a session that is over (its
    // open line, e.g. GPT-Live's): what the call asked since is still owed, and goes to the new session.
    if (event.speaker === "agent" && !p.session.ended) p.keeper.answerStarted(from);
    p.report.transcript(
      event.speaker,
      event.text,
      event.itemId === undefined ? undefined : p.bargeIn.heardOf(event.itemId),
      from === undefined ? undefined : p.now() - from,
    );
  }

  /**
   * The caller's audio became item `itemId`: the line begun at speech start now awaits that item's
   * transcript (the same item, unless a commit of the client's named another).
   */
  #committed(itemId: string): void {
    const speaking = this.#speakingItem;
    this.#speakingItem = undefined;
    if (speaking === undefined || speaking === itemId || itemId === "") return;
    const line = this.#lines.get(speaking);
    if (line === undefined) return;
    this.#lines.delete(speaking);
    this.#lines.set(itemId, line);
  }

  /** The ended call waits for its last lines (`on`), or is done waiting. */
  lingering(on: boolean): void {
    this.#lingering = on;
  }

  /** The caller cut in (Twilio was cleared): stop the agent where the caller stopped hearing it. */
  onCut(cut: Cut): void {
    const p = this.#p;
    // Keypad tones are agent audio to the caller but no item the engine knows.
    const items = cut.items.filter((item) => !item.itemId.startsWith(TONES_ITEM_PREFIX));
    // Between sessions there is nothing upstream to stop (the new one knows neither items nor answer).
    if (!p.keeper.replacing) {
      for (const message of p.session.engine.interruption(items, cut.activeResponse)) {
        p.session.send(message);
      }
    }

    // Bookkeeping after the sends.
    const first = cut.items[0];
    if (first !== undefined) {
      if (!cut.staleOnly) p.options.counters.truncations += cut.items.length;
      p.report.interruption(first, p.now() - cut.at, cut.staleOnly);
    }
    p.turns.abandon();
  }

  /**
   * True when a line began to be heard within the last `withinMs` (monotonic ms) and its transcript
   * has not come yet: the caller's last words, or the agent's answer, still being transcribed.
   */
  awaitingTranscript(now: number, withinMs: number): boolean {
    for (const line of this.#lines.values()) if (line.due && now - line.from <= withinMs) return true;
    return false;
  }

  /** An answer is done: its lines are no longer due (their transcripts come before `response.done`). */
  #answerDone(responseId: string): void {
    for (const line of this.#lines.values()) if (line.responseId === responseId) line.due = false;
  }

  #remember(itemId: string, from: number, responseId: string | undefined): void {
    this.#lines.set(itemId, { from, responseId, due: true });
  }

  /**
   * `start` came at `now` and the greeting is due, on `prewarmed` when `start` claimed a pre-warmed
   * session: its first audio is timed ({@linkcode #firstWord}).
   */
  awaitGreeting(now: number, prewarmed: UpstreamSession | undefined): void {
    this.#greetingFrom = now;
    this.#greetingPrewarm = prewarmed;
  }

  /** The greeting's first audio went to Twilio: how long after `start` (the README's "First word"). */
  #firstWord(): void {
    const p = this.#p;
    const ms = p.now() - this.#greetingFrom!;
    const how = p.session === this.#greetingPrewarm ? "pre-warmed session" : "session opened on the socket";
    this.#greetingFrom = undefined;
    this.#greetingPrewarm = undefined;
    p.log.info(`First word: greeting audio sent ${Math.round(ms)} ms after start (${how})`);
  }
}
