/**
 * The bench's GPT-Live upstream: the shared fake (`testing/fake_live.ts`, bench mode: caller
 * appends recognised without JSON.parse and timed by the id in their payload) driven on the load's
 * shared 20 ms grid, with the same surface as the Realtime {@linkcode RealtimeBenchUpstream}.
 *
 * Per session: `session.start` is answered by the fake (`session.started`, strict checks); the
 * greeting (`session.commentary.append`) starts the agent's speech: one frame at once, then one
 * 20 ms delta per grid point, paced in real time as GPT-Live is assumed to pace (see
 * `src/engines/live/events.ts`). "The caller cutting in" is GPT-Live's way: caller transcript
 * fragments arrive and the model goes quiet for {@linkcode YIELD_MS}, then answers — no
 * `speech_started`, no truncation, and with real-time pacing nothing stale to `clear`.
 * `session.usage.updated` goes out every second, as the real server reports it.
 *
 * @module
 */

import { FakeLiveServer, type FakeLiveSession } from "../testing/fake_live.ts";
import {
  type BenchUpstream,
  emptyUpstreamCounts,
  type FakeUpstreamCounts,
  type FakeUpstreamOptions,
} from "./_realtime_upstream.ts";
import { FRAME_MS, FrameLedger, framePayload, readFrameId, UNKNOWN_CALL } from "../testing/frames.ts";

/** How long the model stays quiet when the caller talks over it. */
export const YIELD_MS = 400;

interface LiveBenchSession {
  fake: FakeLiveSession;
  /** Position among measured sessions (its phase of the grid, its call), -1 for a probe. */
  order: number;
  ledger: FrameLedger;
  streaming: boolean;
  nextDue: number;
  nextSpeechAt: number | undefined;
}

/** GPT-Live behind the bench's upstream surface. */
export class LiveBenchUpstream implements BenchUpstream {
  readonly counts: FakeUpstreamCounts = emptyUpstreamCounts();
  generating = true;
  readonly probeLedger: FrameLedger = new FrameLedger();
  readonly probeGreetingRequests: Map<number, number> = new Map();
  readonly #options: FakeUpstreamOptions;
  readonly #server: FakeLiveServer;
  readonly #sessions: LiveBenchSession[] = [];
  readonly #epoch = performance.now();
  #speechPlan: ((call: number) => number) | undefined;
  #speechEveryMs: number | undefined;
  #unmeasured = 0;
  #measured = 0;
  #watching = true;

  private constructor(options: FakeUpstreamOptions) {
    this.#options = options;
    this.#server = FakeLiveServer.start({
      recordAudio: false,
      usageIntervalMs: 1000,
      onCallerAudio: (payload, at) => options.up.arrived(readFrameId(payload, 0), at),
    });
    void this.#watch();
  }

  /** Starts the fake on a free port of 127.0.0.1 (give `url` to Parley as OPENAI_LIVE_URL). */
  static start(options: FakeUpstreamOptions): LiveBenchUpstream {
    return new LiveBenchUpstream(options);
  }

  get url(): string {
    return this.#server.url;
  }

  get openSessions(): number {
    return this.#server.sessions.filter((s) => s.open).length;
  }

  /** Client events the fake refused (the types do not have them): should stay 0. */
  get refusedEvents(): number {
    return this.#server.sessions.reduce((n, s) => n + s.errorsSent.length, 0);
  }

  planSpeech(firstAt: (call: number) => number, everyMs?: number): void {
    this.#speechPlan = firstAt;
    this.#speechEveryMs = everyMs;
    for (const session of this.#sessions) session.nextSpeechAt = undefined;
  }

  expectProbe(): void {
    this.#unmeasured++;
  }

  tick(now: number): void {
    if (!this.generating) return;
    for (const session of this.#sessions) {
      if (!session.streaming || !session.fake.open) continue;
      if (this.#speechPlan !== undefined && session.order >= 0) {
        session.nextSpeechAt ??= this.#speechPlan(session.order);
        if (session.nextSpeechAt <= now) {
          session.nextSpeechAt = this.#speechEveryMs === undefined
            ? Infinity
            : session.nextSpeechAt + this.#speechEveryMs;
          this.#callerTalksOver(session, now);
        }
      }
      while (session.nextDue <= now) {
        this.#sendDelta(session);
        session.nextDue += FRAME_MS;
      }
    }
  }

  async close(): Promise<void> {
    this.#watching = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#server.close(), new Promise<void>((r) => timer = setTimeout(r, 5_000))]);
    clearTimeout(timer);
  }

  /** Takes each new session as the fake accepts it. */
  async #watch(): Promise<void> {
    for (let index = 0; this.#watching; index++) {
      const fake = await this.#server.session(index);
      if (!this.#watching) return;
      const probe = this.#unmeasured > 0;
      if (probe) this.#unmeasured--;
      const session: LiveBenchSession = {
        fake,
        order: probe ? -1 : this.#measured++,
        ledger: probe ? this.probeLedger : this.#options.down,
        streaming: false,
        nextDue: Infinity,
        nextSpeechAt: undefined,
      };
      this.#sessions.push(session);
      this.counts.sessions++;
      void fake.waitFor("session.start").then(() => this.counts.sessionUpdates++);
      void fake.waitFor("session.commentary.append").then((event) => this.#greet(session, event.at));
      void fake.closed.then(() => this.#sessions.splice(this.#sessions.indexOf(session), 1));
    }
  }

  #greet(session: LiveBenchSession, at: number): void {
    this.counts.responseCreates++;
    if (!this.generating || !session.fake.open) return;
    session.streaming = true;
    const first = this.#sendDelta(session);
    if (session.order < 0) this.probeGreetingRequests.set(first, at);
    const phase =
      ((Math.max(0, session.order) * FRAME_MS) / Math.max(1, this.#options.calls) + FRAME_MS / 2) %
      FRAME_MS;
    const since = performance.now() - this.#epoch - phase;
    session.nextDue = this.#epoch + phase + (Math.floor(since / FRAME_MS) + 1) * FRAME_MS;
  }

  #callerTalksOver(session: LiveBenchSession, now: number): void {
    const timeline = session.fake.timelineMs();
    session.fake.send({
      type: "session.input_transcript.delta",
      delta: "Sorry, one question",
      start_ms: Math.max(0, timeline - 600),
      end_ms: timeline,
    });
    session.nextDue = now + YIELD_MS;
  }

  #sendDelta(session: LiveBenchSession): number {
    const id = session.ledger.sent(performance.now());
    session.fake.sendAudioDelta(framePayload(id, session.order < 0 ? UNKNOWN_CALL : session.order));
    return id;
  }
}
