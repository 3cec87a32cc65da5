/**
 * GPT-Live transcripts into turns. GPT-Live sends transcript fragments only
 * (`session.input_transcript.delta` for the caller, `session.output_transcript.delta` for the agent),
 * each with `start_ms`/`end_ms` on the session timeline, and no "done" event: the types say to
 * append fragments in delivery order, and that they "do not define complete turns". So Parley
 * decides where a turn ends:
 *
 * 1. **The other side takes the floor**: a fragment that starts at or after the end of the other
 *    side's open turn ends that turn — once `settleMs` of timeline have passed, because transcription
 *    lags the audio: a late fragment that starts before the floor changed still joins the turn.
 *    Speech that overlaps the open turn (a backchannel "mm-hm" while the agent talks, or the caller
 *    talking over the agent, which GPT-Live leaves to the model) does not end it: both turns stay
 *    open, and each ends on its own — and when the overlapped side speaks again after the other side
 *    finished (the caller barged in, the model yielded, then answered), that is a new turn.
 * 2. **A gap**: a turn whose last fragment ended `gapMs` or more before the timeline's "now" has
 *    ended. "Now" is the latest `end_ms` seen, or the caller's clock passed to `idle()`, so a caller
 *    who stops and waits still gets a turn end.
 * 3. **The end of the session**: `flush()` ends whatever is open.
 *
 * Ended turns come out in order of their start. Fragments are joined as sent (they carry their own
 * spaces); the text is trimmed, and a turn with no text is dropped.
 *
 * The session timeline counts ms from the session start; {@linkcode SessionClock} maps it to
 * Parley's clock (`performance.now()`), so turn latency can be measured from the end of the caller's
 * speech to the first agent audio the caller heard.
 *
 * @module
 */

/** Who spoke. */
export type Speaker = "caller" | "agent";

/** One finished turn, on the session timeline. */
export interface TranscriptTurn {
  speaker: Speaker;
  text: string;
  /** `start_ms` of its first fragment. */
  startMs: number;
  /** Latest `end_ms` of its fragments. */
  endMs: number;
}

/** Options of {@linkcode TurnAssembler}. */
export interface TurnAssemblerOptions {
  /** Silence on the timeline that ends a turn, ms. @default 1500 */
  gapMs?: number;
  /** How long a turn whose speaker lost the floor still takes late fragments, ms. @default 700 */
  settleMs?: number;
}

/** Default silence that ends a turn when the other side does not speak. */
export const DEFAULT_TURN_GAP_MS = 1500;

/** Default wait for late fragments (transcription lags the audio) once the other side took the floor. */
export const DEFAULT_SETTLE_MS = 700;

interface OpenTurn extends TranscriptTurn {
  /** Where the other side took the floor; fragments starting before it still belong here. */
  floorLostAt: number | undefined;
}

/**
 * Assembles transcript fragments into turns.
 *
 * @example
 * ```ts
 * const turns = new TurnAssembler();
 * turns.add("caller", "I need", 100, 400);
 * turns.add("caller", " a quote", 400, 900);
 * turns.add("agent", "Sure", 1300, 1600);
 * turns.idle(2000); // → [{ speaker: "caller", text: "I need a quote", startMs: 100, endMs: 900 }]
 * ```
 */
export class TurnAssembler {
  readonly #gapMs: number;
  readonly #settleMs: number;
  readonly #open = new Map<Speaker, OpenTurn>();
  /** Latest `end_ms` each side has spoken to, ended turns included. */
  readonly #lastEnd = new Map<Speaker, number>();
  #nowMs = 0;

  constructor(options: TurnAssemblerOptions = {}) {
    this.#gapMs = options.gapMs ?? DEFAULT_TURN_GAP_MS;
    this.#settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  }

  /** Adds one fragment; returns the turns ended by now (see the module doc for when). */
  add(speaker: Speaker, delta: string, startMs: number, endMs: number): TranscriptTurn[] {
    const ended: TranscriptTurn[] = [];
    const other = this.#open.get(speaker === "caller" ? "agent" : "caller");
    if (other !== undefined && other.floorLostAt === undefined && startMs >= other.endMs) {
      other.floorLostAt = startMs;
    }
    const own = this.#open.get(speaker);
    if (own !== undefined && this.#resumes(own, startMs)) this.#end(own, ended);
    this.#lastEnd.set(speaker, Math.max(this.#lastEnd.get(speaker) ?? 0, endMs));
    const turn = this.#open.get(speaker);
    if (turn === undefined) {
      this.#open.set(speaker, { speaker, text: delta, startMs, endMs, floorLostAt: undefined });
    } else {
      turn.text += delta;
      turn.startMs = Math.min(turn.startMs, startMs);
      turn.endMs = Math.max(turn.endMs, endMs);
    }
    return ordered([...ended, ...this.idle(endMs)]);
  }

  /**
   * Ends the turns that are over as of `nowMs` on the session timeline: silent for `gapMs`, or
   * `settleMs` past losing the floor. Call it on a timer too: the timeline moves without fragments.
   */
  idle(nowMs: number): TranscriptTurn[] {
    this.#nowMs = Math.max(this.#nowMs, nowMs);
    const ended: TranscriptTurn[] = [];
    for (const turn of [...this.#open.values()]) {
      const settled = turn.floorLostAt !== undefined && this.#nowMs - turn.floorLostAt >= this.#settleMs;
      if (settled || this.#nowMs - turn.endMs >= this.#gapMs) this.#end(turn, ended);
    }
    return ordered(ended);
  }

  /** Ends every open turn (the session is over). */
  flush(): TranscriptTurn[] {
    const ended: TranscriptTurn[] = [];
    for (const turn of [...this.#open.values()]) this.#end(turn, ended);
    return ordered(ended);
  }

  /** The open turn of `speaker`, if any: its text and timing so far. */
  current(speaker: Speaker): Readonly<TranscriptTurn> | undefined {
    const turn = this.#open.get(speaker);
    return turn === undefined ? undefined : finished(turn);
  }

  /** True when a fragment of `own`'s speaker starting at `startMs` begins a new turn. */
  #resumes(own: OpenTurn, startMs: number): boolean {
    if (own.floorLostAt !== undefined) return startMs >= own.floorLostAt; // else a late fragment
    const otherSaid = this.#lastEnd.get(own.speaker === "caller" ? "agent" : "caller") ?? -Infinity;
    // The other side spoke past this turn's end (e.g. the caller barged in and the model yielded).
    if (otherSaid > own.endMs && startMs >= otherSaid) return true;
    return startMs - own.endMs >= this.#gapMs;
  }

  #end(turn: OpenTurn, into: TranscriptTurn[]): void {
    this.#open.delete(turn.speaker);
    const done = finished(turn);
    if (done.text !== "") into.push(done);
  }
}

function finished(turn: OpenTurn): TranscriptTurn {
  return { speaker: turn.speaker, text: turn.text.trim(), startMs: turn.startMs, endMs: turn.endMs };
}

function ordered(turns: TranscriptTurn[]): TranscriptTurn[] {
  return turns.sort((a, b) => a.startMs - b.startMs);
}

/**
 * Maps the session timeline (ms since the session started) to a local clock and back.
 *
 * @example
 * ```ts
 * const clock = SessionClock.fromHandshake(startSentAt, performance.now()); // on session.started
 * const callerStoppedAt = clock.toLocal(turn.endMs);
 * ```
 */
export class SessionClock {
  /** The local time of session-timeline 0. */
  readonly originMs: number;

  constructor(originMs: number) {
    this.originMs = originMs;
  }

  /**
   * The clock of a session whose `session.start` left at `sentAt` and whose `session.started`
   * arrived at `startedAt` (both local): GPT-Live starts the timeline between the two, so the
   * origin is taken at the midpoint, within half a round trip of the truth.
   */
  static fromHandshake(sentAt: number, startedAt: number): SessionClock {
    return new SessionClock(sentAt + Math.max(0, startedAt - sentAt) / 2);
  }

  /** Local time of session-timeline position `sessionMs`. */
  toLocal(sessionMs: number): number {
    return this.originMs + sessionMs;
  }

  /** Session-timeline position of local time `localMs`. */
  toSession(localMs: number): number {
    return localMs - this.originMs;
  }
}
