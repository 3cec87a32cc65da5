/**
 * The bench's Realtime upstream: the shared fake (`testing/fake_realtime.ts`, bench mode: sessions
 * record and parse nothing, messages come here as they were read) driven cheaply enough per frame
 * that it is not what gets measured, faithfully enough that the relay runs its real path.
 *
 * Per session it answers `session.created` on open and `session.updated` to `session.update`; on
 * `response.create` it starts the agent's answer at once (`response.created` and a burst of deltas
 * that puts ~100 ms of audio ahead of playback, as OpenAI's faster-than-real-time output does), then
 * sends one 160-byte delta every 20 ms on a grid shared by all sessions with spread phases. When
 * told to, it plays the caller cutting in: `input_audio_buffer.speech_started`, `response.done`
 * (cancelled) for the answer, and a new answer. No delta of a cut answer is sent after
 * `speech_started`, so every delta it sends must reach the caller.
 *
 * A `response.cancel` stops the answer in progress, as OpenAI's does: no more deltas, and
 * `response.done` (cancelled); with none in progress it is refused with OpenAI's
 * `response_cancel_not_active` error. The relay's cancel in answer to a cut-in is one such: on the
 * real API the new answer starts only after the caller's turn, long after that cancel, so the new
 * answer the fake starts at once is not the one it cancels.
 *
 * With `dropEveryMs` it drops each measured session (a 1011 close, as a lost connection) about that
 * long after it opened (spread ±25 % by call), and times the reconnect: drop → the first caller frame
 * of the same call on a new session. A new session of a dropped call starts answering on its first
 * caller frame (the relay sends it no greeting).
 *
 * Caller frames (`input_audio_buffer.append`) are recognised by prefix and timed by the id in their
 * payload; everything else is parsed as JSON.
 *
 * @module
 */

import { FakeRealtimeServer, type FakeRealtimeSession } from "../testing/fake_realtime.ts";
import {
  FRAME_MS,
  FrameLedger,
  framePayload,
  readFrameCall,
  readFrameId,
  Samples,
  UNKNOWN_CALL,
} from "../testing/frames.ts";

const APPEND_PREFIX = `{"type":"input_audio_buffer.append","audio":"`;

/** Options of {@linkcode RealtimeBenchUpstream.start} (and of the GPT-Live one). */
export interface FakeUpstreamOptions {
  /** Ledger of caller frames (they arrive here). */
  up: FrameLedger;
  /** Ledger of agent frames (they are sent from here). */
  down: FrameLedger;
  /** Expected number of sessions, to spread their 20 ms phases evenly. */
  calls: number;
  /** Deltas sent at once when an answer starts. @default 5 */
  burstFrames?: number;
  /** Called when `speech_started` goes out for call `call` at `at` (performance.now). */
  onSpeechStarted?: (call: number, at: number) => void;
  /** Drop each measured session about this long after it opened (soak). */
  dropEveryMs?: number;
}

/** Sessions dropped on purpose and how long the relay took to get caller audio flowing again. */
export interface ReconnectFigures {
  drops: number;
  /** Drop → first caller frame of the same call on a new session, ms. */
  ms: Samples;
  /** Calls dropped that have not reconnected (yet). */
  pending: number;
}

/** What the fake saw of the relay's client events, for the report. */
export interface FakeUpstreamCounts {
  sessions: number;
  sessionUpdates: number;
  responseCreates: number;
  responseCancels: number;
  truncates: number;
  otherEvents: number;
  unparsable: number;
  /**
   * Measured sessions that closed before any caller frame: pre-warmed for a call whose media socket
   * reached another instance (a cluster), which closed them unused; and the agent frames they sent.
   */
  unusedPrewarms: number;
  unusedPrewarmDeltas: number;
}

/** Tallies at zero, for a new bench upstream of either engine. */
export function emptyUpstreamCounts(): FakeUpstreamCounts {
  return {
    sessions: 0,
    sessionUpdates: 0,
    responseCreates: 0,
    responseCancels: 0,
    truncates: 0,
    otherEvents: 0,
    unparsable: 0,
    unusedPrewarms: 0,
    unusedPrewarmDeltas: 0,
  };
}

/** What a load run needs of its fake upstream, whichever engine it speaks. */
export interface BenchUpstream {
  /** The URL to give the relay. */
  readonly url: string;
  /** Event tallies. */
  readonly counts: FakeUpstreamCounts;
  /** Sessions whose socket is still open. */
  readonly openSessions: number;
  /** When false, no delta or speech is sent (the load's drain phase). */
  generating: boolean;
  /** Deltas of probe calls, counted apart from the load's. */
  readonly probeLedger: FrameLedger;
  /** Id of each probe session's first delta → when its greeting was asked for (performance.now). */
  readonly probeGreetingRequests: Map<number, number>;
  /** Plans the caller cutting in: call `c` first at `firstAt(c)`, then every `everyMs` if given. */
  planSpeech(firstAt: (call: number) => number, everyMs?: number): void;
  /** The next session accepted belongs to a probe call (and any session whose instructions name `callSid`). */
  expectProbe(callSid?: string): void;
  /** Sends what is due at `now`. */
  tick(now: number): void;
  /** Closes every session and the listener. */
  close(): Promise<void>;
  /** Client events the fake refused as the real server would (GPT-Live's strict checks). */
  readonly refusedEvents?: number;
  /** Drops on purpose and reconnect times (`dropEveryMs`). */
  readonly reconnects?: ReconnectFigures;
  /** Set false when the window closes: no new drop. */
  dropping?: boolean;
}

/**
 * A session's role before its first telling message. Sessions are not told apart by the order they
 * are accepted in: a reconnecting call's new session can be accepted between `expectProbe()` and the
 * probe's own session, and taking it for the probe left that call on a session that never spoke
 * (the relay's 15 s stall watch replaced it: the soak's one 15.6 s "reconnect").
 */
const UNDECIDED = -2;

/** One upstream session. */
export class FakeSession {
  /** Call index learnt from the first caller frame; -1 until then (and for probes). */
  call = -1;
  /** True once the socket has closed. */
  closed = false;
  /** Deltas sent. */
  deltas = 0;
  /** The shared fake's session (bench mode): its socket to the relay. */
  readonly upstream: FakeRealtimeSession;
  /** Position among the measured sessions; -1 for a probe, {@linkcode UNDECIDED} until known. */
  order: number;
  /** Where this session's deltas are recorded. */
  ledger: FrameLedger;
  streaming = false;
  nextDue = Infinity;
  nextSpeechAt: number | undefined;
  response = 0;
  /** Cancels still to come for an answer the cut-in already ended (see the module's notes). */
  staleCancels = 0;
  prefix = "";
  openedAt = performance.now();
  dropAt = Infinity;

  /** Wraps an accepted session; `order` is its position among the measured sessions, -1 for a probe. */
  constructor(upstream: FakeRealtimeSession, order: number, ledger: FrameLedger) {
    this.upstream = upstream;
    this.order = order;
    this.ledger = ledger;
  }
}

/** The Realtime fake behind the bench's upstream surface. */
export class RealtimeBenchUpstream implements BenchUpstream {
  /** Every session accepted, in order. */
  readonly sessions: FakeSession[] = [];
  /** Event tallies. */
  readonly counts: FakeUpstreamCounts = emptyUpstreamCounts();
  /** When false, no delta or speech event is sent (the load's drain phase). */
  generating = true;
  /** Deltas of unmeasured sessions (probe calls): counted apart from the load's. */
  readonly probeLedger: FrameLedger = new FrameLedger();
  /** Id of each probe session's first delta → when its `response.create` arrived (performance.now). */
  readonly probeGreetingRequests: Map<number, number> = new Map();
  readonly #options: FakeUpstreamOptions;
  readonly #server: FakeRealtimeServer;
  readonly #epoch = performance.now();
  readonly #burst: number;
  #eventId = 0;
  #speechPlan: ((call: number) => number) | undefined;
  #speechEveryMs: number | undefined;
  #pendingGreeting: number | undefined;
  #unmeasured = 0;
  /** Probe calls' CallSids: a session configured for one is the probe's (a cluster opens two per call). */
  readonly #probeCalls = new Set<string>();
  readonly #live = new Set<FakeSession>();
  #measured = 0;
  /** Call → when its session was dropped. */
  readonly #droppedAt = new Map<number, number>();
  /** Drops on purpose and reconnect times. */
  readonly reconnects: ReconnectFigures = { drops: 0, ms: new Samples(), pending: 0 };
  /** False once the window has closed: no new drop, so every drop can finish its reconnect. */
  dropping = true;

  private constructor(options: FakeUpstreamOptions) {
    this.#options = options;
    this.#burst = options.burstFrames ?? 5;
    this.#server = FakeRealtimeServer.start({ benchDriver: (upstream) => this.#accept(upstream) });
  }

  /**
   * Starts the fake on a free port of 127.0.0.1.
   *
   * @example
   * ```ts
   * const fake = RealtimeBenchUpstream.start({ up, down, calls: 50 });
   * // OPENAI_REALTIME_URL = fake.url
   * ```
   */
  static start(options: FakeUpstreamOptions): RealtimeBenchUpstream {
    return new RealtimeBenchUpstream(options);
  }

  /** The URL to give the relay as its Realtime endpoint. */
  get url(): string {
    return this.#server.url;
  }

  /** Sessions whose socket is still open. */
  get openSessions(): number {
    return this.#live.size;
  }

  /**
   * Plans the caller cutting in: call `c` first at `firstAt(c)` (performance.now), then every
   * `everyMs` if given.
   */
  planSpeech(firstAt: (call: number) => number, everyMs?: number): void {
    this.#speechPlan = firstAt;
    this.#speechEveryMs = everyMs;
    for (const session of this.sessions) session.nextSpeechAt = undefined;
  }

  /**
   * The next session accepted belongs to a probe call: its deltas go to {@linkcode probeLedger},
   * it takes no phase of the grid and is never cut in on.
   */
  expectProbe(callSid?: string): void {
    this.#unmeasured++;
    if (callSid !== undefined) this.#probeCalls.add(callSid);
  }

  /** Sends what is due at `now`: deltas on each session's grid, and planned speech. */
  tick(now: number): void {
    if (!this.generating) return;
    for (const session of this.#live) {
      if (session.dropAt <= now) {
        this.#drop(session, now);
        continue;
      }
      if (!session.streaming) continue;
      if (this.#speechPlan !== undefined && session.call >= 0) {
        session.nextSpeechAt ??= this.#speechPlan(session.call);
        if (session.nextSpeechAt <= now) {
          session.nextSpeechAt = this.#speechEveryMs === undefined
            ? Infinity
            : session.nextSpeechAt + this.#speechEveryMs;
          this.#cutIn(session);
        }
      }
      while (session.nextDue <= now) {
        this.#sendDelta(session);
        session.nextDue += FRAME_MS;
      }
    }
  }

  /** Closes every session and the listener (giving up on unanswered close handshakes after 5 s). */
  async close(): Promise<void> {
    await this.#server.close();
  }

  /** A session the shared fake accepted (it answers `session.created` itself): what handles its messages. */
  #accept(upstream: FakeRealtimeSession): (data: unknown, at: number) => void {
    const session = new FakeSession(upstream, UNDECIDED, this.#options.down);
    this.sessions.push(session);
    this.#live.add(session);
    this.counts.sessions++;
    void upstream.closed.then(() => {
      session.closed = true;
      this.#live.delete(session);
      if (session.order >= 0 && session.call < 0) {
        this.counts.unusedPrewarms++;
        this.counts.unusedPrewarmDeltas += session.deltas;
      }
    });
    return (data, at) => this.#onMessage(session, data, at);
  }

  #onMessage(session: FakeSession, data: unknown, at: number): void {
    if (typeof data !== "string") {
      this.counts.unparsable++;
      return;
    }
    if (data.startsWith(APPEND_PREFIX)) {
      this.#options.up.arrived(readFrameId(data, APPEND_PREFIX.length), at);
      if (session.call < 0) {
        const call = readFrameCall(data, APPEND_PREFIX.length);
        // A load call's frame: its session (first or after a drop) is a measured one.
        if (session.order === UNDECIDED && call !== UNKNOWN_CALL) this.#decide(session, false);
        this.#learnCall(session, call, at);
      }
      return;
    }
    let message: { type?: unknown; session?: { instructions?: unknown } };
    try {
      message = JSON.parse(data);
    } catch {
      this.counts.unparsable++;
      return;
    }
    switch (message.type) {
      case "session.update": {
        this.counts.sessionUpdates++;
        // The tests' persona names the call in its instructions: a probe's session, whichever instance opened it.
        const instructions = message.session?.instructions;
        if (session.order === UNDECIDED && this.#probeCalls.size > 0 && typeof instructions === "string") {
          const callSid = /Call: (CA[0-9a-f]{32})/.exec(instructions)?.[1];
          if (callSid !== undefined && this.#probeCalls.has(callSid)) this.#decide(session, true);
        }
        this.#send(session, `{"type":"session.updated","session":{"type":"realtime"}}`);
        return;
      }
      case "response.create":
        this.counts.responseCreates++;
        // A greeting: a probe's session while a probe is expected (load calls all start in the
        // ramp, before any probe under load), else a load call's first session.
        if (session.order === UNDECIDED) this.#decide(session, this.#unmeasured > 0);
        if (!session.streaming && this.generating) {
          this.#pendingGreeting = at;
          this.#startStreaming(session, at);
        }
        return;
      case "response.cancel":
        this.counts.responseCancels++;
        return this.#cancel(session);
      case "conversation.item.truncate":
        this.counts.truncates++;
        return;
      default:
        this.counts.otherEvents++;
    }
  }

  #decide(session: FakeSession, probe: boolean): void {
    if (probe) {
      // A probe answered on two instances (pre-warm on one, the socket on another) was expected once.
      if (this.#unmeasured > 0) this.#unmeasured--;
      session.order = -1;
      session.ledger = this.probeLedger;
    } else {
      session.order = this.#measured++;
    }
  }

  #startStreaming(session: FakeSession, at: number): void {
    session.streaming = true;
    this.#startAnswer(session);
    // Then one frame per 20 ms, on this session's phase of the shared grid.
    const order = session.order >= 0 ? session.order : 0;
    const phase = ((order * FRAME_MS) / Math.max(1, this.#options.calls) + FRAME_MS / 2) % FRAME_MS;
    const since = at - this.#epoch - phase;
    session.nextDue = this.#epoch + phase + (Math.floor(since / FRAME_MS) + 1) * FRAME_MS;
  }

  /** The session's first caller frame names its call: a dropped call's new session, or a first one. */
  #learnCall(session: FakeSession, call: number, at: number): void {
    session.call = call;
    const dropEvery = this.#options.dropEveryMs;
    if (dropEvery === undefined || session.order < 0 || call === UNKNOWN_CALL) return;
    session.dropAt = session.openedAt + dropEvery * (0.75 + (0.5 * ((call * 37) % 100)) / 100);
    const droppedAt = this.#droppedAt.get(call);
    if (droppedAt === undefined) return;
    this.#droppedAt.delete(call);
    this.reconnects.ms.add(at - droppedAt);
    this.reconnects.pending--;
    // The relay gives a new session no greeting: the model answers the caller's next words.
    if (this.generating) this.#startStreaming(session, at);
  }

  /** A lost connection: 1011, no error event. */
  #drop(session: FakeSession, now: number): void {
    session.dropAt = Infinity;
    if (!this.generating || !this.dropping || !session.upstream.open) return;
    this.reconnects.drops++;
    this.reconnects.pending++;
    this.#droppedAt.set(session.call, now);
    session.streaming = false;
    session.upstream.drop();
  }

  #startAnswer(session: FakeSession): void {
    const id = `${session.order}_${++session.response}`;
    session.prefix =
      `","response_id":"resp_${id}","item_id":"item_${id}","output_index":0,"content_index":0,"delta":"`;
    this.#send(
      session,
      `{"type":"response.created","response":{"id":"resp_${id}","object":"realtime.response","status":"in_progress"}}`,
    );
    for (let i = 0; i < this.#burst; i++) this.#sendDelta(session);
  }

  /** `response.cancel`: the answer in progress stops and ends cancelled; with none, OpenAI's error. */
  #cancel(session: FakeSession): void {
    if (!session.streaming || session.staleCancels > 0) {
      if (session.staleCancels > 0) session.staleCancels--;
      this.#send(
        session,
        `{"type":"error","error":{"type":"invalid_request_error","code":"response_cancel_not_active","message":"Cancellation failed: no active response found"}}`,
      );
      return;
    }
    session.streaming = false;
    session.nextDue = Infinity;
    this.#send(
      session,
      `{"type":"response.done","response":{"id":"resp_${session.order}_${session.response}","status":"cancelled","status_details":{"type":"cancelled","reason":"client_cancelled"},"usage":null}}`,
    );
  }

  #cutIn(session: FakeSession): void {
    const id = `${session.order}_${session.response}`;
    const at = performance.now();
    // The relay's cancel for the answer this cut ends reaches a server that has already ended it.
    session.staleCancels++;
    this.#send(
      session,
      `{"type":"input_audio_buffer.speech_started","audio_start_ms":0,"item_id":"item_caller_${id}"}`,
    );
    this.#options.onSpeechStarted?.(session.call, at);
    this.#send(
      session,
      `{"type":"response.done","response":{"id":"resp_${id}","status":"cancelled","status_details":{"type":"cancelled","reason":"turn_detected"},"usage":null}}`,
    );
    this.#startAnswer(session);
  }

  #sendDelta(session: FakeSession): void {
    if (!session.upstream.open) return;
    const id = session.ledger.sent(performance.now());
    if (this.#pendingGreeting !== undefined) {
      if (session.order < 0) this.probeGreetingRequests.set(id, this.#pendingGreeting);
      this.#pendingGreeting = undefined;
    }
    const call = session.call < 0 ? UNKNOWN_CALL : session.call;
    session.upstream.sendText(
      `{"type":"response.output_audio.delta","event_id":"event_${++this.#eventId}${session.prefix}${
        framePayload(id, call)
      }"}`,
    );
    session.deltas++;
  }

  #send(session: FakeSession, text: string): void {
    // Realtime server events carry an event_id first; insert it after the opening brace.
    session.upstream.sendText(`{"event_id":"event_${++this.#eventId}",${text.slice(1)}`);
  }
}
