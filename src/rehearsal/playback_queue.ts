/**
 * What a phone line does with the agent's audio, as Twilio documents it: audio is queued behind
 * what is playing and played in real time, a `mark` is reached when the audio before it has played,
 * and `clear` drops the unplayed audio and reaches every pending mark at once.
 *
 * @module
 */

type Queued = { kind: "audio"; bytes: Uint8Array } | { kind: "mark"; name: string };

/** One frame's worth of playback. */
export interface PlayedFrame {
  /** The audio played (up to the frame's size), or undefined when nothing was queued. */
  audio: Uint8Array | undefined;
  /** Marks playback reached, in order. */
  marks: string[];
}

/** The agent's audio and marks waiting to be played. */
export class PlaybackQueue {
  #queue: Queued[] = [];

  /** Queues audio behind what is already queued. */
  pushAudio(bytes: Uint8Array): void {
    if (bytes.length > 0) this.#queue.push({ kind: "audio", bytes });
  }

  /** Queues a mark: it is reached once the audio queued before it has played. */
  pushMark(name: string): void {
    this.#queue.push({ kind: "mark", name });
  }

  /** True when audio waits to be played (marks alone do not count). */
  hasAudio(): boolean {
    return this.#queue.some((item) => item.kind === "audio");
  }

  /** Plays up to `bytes` of audio; returns it and the marks reached before and right after it. */
  play(bytes: number): PlayedFrame {
    const marks = this.#marksAtHead();
    const parts: Uint8Array[] = [];
    let played = 0;
    while (played < bytes && this.#queue[0]?.kind === "audio") {
      const head = this.#queue[0];
      const take = Math.min(head.bytes.length, bytes - played);
      parts.push(head.bytes.subarray(0, take));
      played += take;
      if (take === head.bytes.length) this.#queue.shift();
      else head.bytes = head.bytes.subarray(take);
    }
    return { audio: played === 0 ? undefined : concat(parts, played), marks };
  }

  /** Drops the unplayed audio; returns every pending mark, in order (they are reached at once). */
  clear(): string[] {
    const marks = this.#queue.flatMap((item) => item.kind === "mark" ? [item.name] : []);
    this.#queue = [];
    return marks;
  }

  #marksAtHead(): string[] {
    const marks: string[] = [];
    while (this.#queue[0]?.kind === "mark") marks.push((this.#queue.shift() as { name: string }).name);
    return marks;
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
