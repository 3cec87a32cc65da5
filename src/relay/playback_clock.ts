/**
 * What the caller has heard of the agent's audio, driven by Twilio's mark echoes.
 *
 * Twilio queues the audio we send and plays it in real time; it echoes a `mark` when playback
 * reaches it. Each mark is named `<itemId>:<ms>`: the echo says "the caller has now heard `ms` of
 * item `itemId`". `ms` is whole, rounded: audio is 8 bytes a ms, so a mark may fall between two
 * milliseconds; the echo of an item's latest mark counts as reaching its exact position, so an answer
 * that ends between milliseconds is all heard when its last mark echoes. Between echoes, playback
 * advances with the clock, capped at what was sent. Each assistant item has its own clock, so the
 * tenth answer is measured from its own start (the stale-start bug of relays that measure from one
 * clock per call).
 *
 * After `clear`, Twilio echoes every pending mark at once; those echoes do not mean the audio was
 * heard, so {@linkcode PlaybackClock.interrupt} forgets the items and their late echoes are ignored.
 *
 * @module
 */

/**
 * Audio sent without a mark before the next end mark goes out, ms. A mark after every 20 ms delta
 * doubles the messages each way (mark and echo) for no gain in accuracy: between echoes the clock
 * interpolates. A delta of this length or more still gets its own mark.
 */
export const MARK_INTERVAL_MS = 100;

/**
 * How long after the clock's reckoned end of playback Twilio may still be playing audio whose mark it
 * has not echoed, ms. The reckoning assumes playback never paused; when Twilio ran dry waiting for
 * audio (an answer arriving no faster than real time, as GPT-Live's does, or a stall), playback is
 * behind it until the next echo. A cut in that window still clears Twilio: a needless `clear` costs
 * one message, a missing one lets the caller hear stale audio.
 */
export const UNDERRUN_GRACE_MS = 1_000;

interface PlaybackItem {
  itemId: string;
  responseId: string;
  /** Audio of this item sent to Twilio, ms. */
  sentMs: number;
  /** Position of the latest mark sent for this item, ms (exact; its name carries it rounded). */
  markedMs: number;
  /** Position of the latest echoed mark of this item, ms. */
  ackedMs: number;
}

/** What was sent for one delta: the marks to send around its audio. */
export interface SentAudio {
  /** Mark to send before the audio: the first audio of a new item (its echo = playback starts). */
  startMark: string | undefined;
  /** Mark to send after the audio, once {@linkcode MARK_INTERVAL_MS} of the item is unmarked. */
  endMark: string | undefined;
}

/** A mark echo that counted. */
export interface MarkEcho {
  itemId: string;
  /** Position in the item the caller has now heard, ms. */
  ms: number;
}

/** What the caller heard of one item that was cut off. */
export interface InterruptedItem {
  itemId: string;
  responseId: string;
  /** Heard audio of the item, ms: the `audio_end_ms` to truncate at. */
  heardMs: number;
  /** Audio sent of the item, ms. */
  sentMs: number;
}

/**
 * Tracks audio sent to Twilio but not yet played, per assistant item, in play order.
 *
 * @example
 * ```ts
 * const clock = new PlaybackClock();
 * const { startMark, endMark } = clock.sent("item_1", "resp_1", 100, performance.now());
 * // send startMark (if any), the audio, then endMark; feed echoes to clock.echo(name, now)
 * ```
 */
export class PlaybackClock {
  /** Items with audio Twilio may not have played yet, oldest first. */
  #items: PlaybackItem[] = [];
  /** When playback last had a known position (an echo, or a send into an empty buffer). */
  #playRef = 0;

  /**
   * Records `durationMs` of `itemId` sent at `now`; returns the marks to send with it. `now` is read
   * only when the caller had heard everything sent (`idle`, {@linkcode heardAll} unless the caller
   * already asked): this audio restarts playback.
   */
  sent(
    itemId: string,
    responseId: string,
    durationMs: number,
    now: number,
    idle = this.#drained(),
  ): SentAudio {
    if (idle) this.#playRef = now;
    let item = this.#items.at(-1);
    let startMark: string | undefined;
    if (item === undefined || item.itemId !== itemId) {
      item = { itemId, responseId, sentMs: 0, ackedMs: 0, markedMs: 0 };
      this.#items.push(item);
      startMark = `${itemId}:0`;
    }
    item.sentMs += durationMs;
    return {
      startMark,
      endMark: item.sentMs - item.markedMs >= MARK_INTERVAL_MS ? this.#mark(item) : undefined,
    };
  }

  /** Audio of `itemId` sent so far if it is the latest item queued, else 0 (a new item), ms. */
  sentOf(itemId: string): number {
    const item = this.#items.at(-1);
    return item !== undefined && item.itemId === itemId ? item.sentMs : 0;
  }

  /**
   * The item's audio is complete: returns the mark for its unmarked tail, if any, so its end is
   * echoed (and the clock knows when Twilio's buffer runs dry).
   */
  finish(itemId: string): string | undefined {
    const item = this.#items.at(-1);
    if (item === undefined || item.itemId !== itemId || item.sentMs <= item.markedMs) return undefined;
    return this.#mark(item);
  }

  #mark(item: PlaybackItem): string {
    item.markedMs = item.sentMs;
    return `${item.itemId}:${Math.round(item.sentMs)}`;
  }

  /**
   * Takes a mark echo. Returns what it says, or undefined for a mark of a forgotten item (echoed
   * by `clear`) or a name Parley did not send.
   */
  echo(name: string, now: number): MarkEcho | undefined {
    const colon = name.lastIndexOf(":");
    if (colon <= 0) return undefined;
    const itemId = name.slice(0, colon);
    const ms = Number(name.slice(colon + 1));
    if (!Number.isFinite(ms)) return undefined;
    const index = this.#items.findIndex((item) => item.itemId === itemId);
    if (index < 0) return undefined;
    // Twilio plays in order: every item before this one has been played out.
    if (index > 0) this.#items.splice(0, index);
    const item = this.#items[0]!;
    // The name of the item's latest mark means its exact position: with a rounded-down name, an
    // answer ending between milliseconds (bytes not a multiple of 8) would never be all heard.
    const heard = ms === Math.round(item.markedMs) ? item.markedMs : ms;
    item.ackedMs = Math.min(Math.max(item.ackedMs, heard), item.sentMs);
    this.#playRef = now;
    if (item.ackedMs >= item.sentMs && this.#items.length > 1) this.#items.shift();
    return { itemId, ms: heard };
  }

  /**
   * Audio sent but not yet played at `now`, ms (0 when the caller has heard everything). Called for
   * every chunk of agent audio while a frame tap listens: the walk of {@linkcode #walk}, written out
   * with no callback.
   */
  unplayedMs(now: number): number {
    let elapsed = Math.max(0, now - this.#playRef);
    let unplayed = 0;
    for (const item of this.#items) {
      const remaining = item.sentMs - item.ackedMs;
      if (elapsed >= remaining) elapsed -= remaining;
      else {
        unplayed += remaining - elapsed;
        elapsed = 0;
      }
    }
    return unplayed;
  }

  /** The item playing at `now` and how much of it has been heard, if anything is playing. */
  playing(now: number): { itemId: string; heardMs: number } | undefined {
    let result: { itemId: string; heardMs: number } | undefined;
    this.#walk(now, (item, heard) => {
      if (result === undefined && heard < item.sentMs) result = { itemId: item.itemId, heardMs: heard };
    });
    return result;
  }

  /**
   * The caller cut in at `now`: returns every item with unheard audio (the playing one with what
   * was heard, later ones with 0) and forgets all items, so the echoes `clear` provokes are ignored.
   */
  interrupt(now: number): InterruptedItem[] {
    const cut: InterruptedItem[] = [];
    this.#walk(now, (item, heard) => {
      if (heard < item.sentMs) {
        cut.push({ itemId: item.itemId, responseId: item.responseId, heardMs: heard, sentMs: item.sentMs });
      }
    });
    this.#items = [];
    return cut;
  }

  /**
   * True while Twilio may still hold audio sent: some of it is not echoed and its reckoned end (see
   * {@linkcode unplayedMs}) is less than {@linkcode UNDERRUN_GRACE_MS} ago.
   */
  mayBePlaying(now: number): boolean {
    let unacked = 0;
    for (const item of this.#items) unacked += item.sentMs - item.ackedMs;
    return unacked > 0 && now - this.#playRef < unacked + UNDERRUN_GRACE_MS;
  }

  /** True when Twilio has echoed the marks of everything sent: the caller heard it all. */
  heardAll(): boolean {
    return this.#drained();
  }

  /** True when Twilio has played everything sent (its buffer is empty). */
  #drained(): boolean {
    for (const item of this.#items) if (item.ackedMs < item.sentMs) return false;
    return true;
  }

  /** Distributes the time since the last known position over the queued items, in order. */
  #walk(now: number, visit: (item: PlaybackItem, heardMs: number) => void): void {
    let elapsed = Math.max(0, now - this.#playRef);
    for (const item of this.#items) {
      const remaining = item.sentMs - item.ackedMs;
      if (elapsed >= remaining) {
        elapsed -= remaining;
        visit(item, item.sentMs);
      } else {
        visit(item, item.ackedMs + elapsed);
        elapsed = 0;
      }
    }
  }
}
