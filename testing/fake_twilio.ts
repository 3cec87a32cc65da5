/**
 * FakeTwilioCall: a Twilio Media Stream client that behaves like Twilio's media server.
 *
 * It plays the agent's audio in real time: each `media` frame is queued behind what is already
 * playing, a `mark` is echoed only when playback reaches it, and `clear` drops the queued audio
 * and echoes every pending mark at once (as Twilio documents). It records what the caller actually
 * heard, byte by byte, so tests can compare a truncate with the truth.
 *
 * Tests and the bench share it. The bench's calls open it in lean mode
 * ({@linkcode FakeTwilioCall.connectRaw}): over `testing/ws_client.ts` (Nagle off), each message
 * Parley sends goes to the bench's handler as text, and nothing is parsed, recorded or played.
 *
 * @module
 */

import { fromBase64, settledLater, toBase64 } from "./fake_realtime.ts";
import { RawWebSocket } from "./ws_client.ts";

/** Base64 as Twilio decodes it: whole groups of four, padding only at the end. */
const TWILIO_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A message Parley sent, parsed, with its arrival time (performance.now). */
export interface TwilioOutbound {
  event: string;
  at: number;
  // deno-lint-ignore no-explicit-any
  [key: string]: any;
}

interface QueuedAudio {
  bytes: Uint8Array;
  start: number;
  end: number;
}

interface PendingMark {
  name: string;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Options of {@linkcode FakeTwilioCall.connect}. */
export interface FakeTwilioOptions {
  /** Extra headers of the upgrade request (e.g. X-Twilio-Signature). */
  headers?: Record<string, string>;
  /** The call's CallSid, as the voice webhook was told. @default a random one */
  callSid?: string;
}

/** Options of {@linkcode FakeTwilioCall.connectRaw}, the bench's lean mode. */
export interface RawTwilioOptions {
  hostname: string;
  port: number;
  /** Path of the media socket (with its per-call token). */
  path: string;
  /** Extra headers of the upgrade request (e.g. X-Twilio-Signature). */
  headers?: Record<string, string>;
  callSid: string;
  streamSid: string;
  /** Each message Parley sends, as text, and when the read that carried it completed. */
  onText(text: string, at: number): void;
  /** The connection ended. */
  onClose(): void;
}

/** What a {@linkcode FakeTwilioCall} writes to: Deno's WebSocket, or the bench's raw client. */
interface MediaSocket {
  readonly open: boolean;
  send(data: string | Uint8Array): void;
  close(code: number): void;
}

/** One fake phone call's media stream. */
export class FakeTwilioCall {
  /** Everything Parley sent, in order. */
  readonly received: TwilioOutbound[] = [];
  /** Resolves with the close code when the socket closes. */
  readonly closed: Promise<number>;
  /** Marks echoed, with when and whether `clear` flushed them. */
  readonly echoedMarks: { name: string; at: number; flushed: boolean }[] = [];
  /**
   * What Twilio would warn about on the account, as it does, ignoring the frame and playing on: 31950 a
   * binary frame, 31951 a message that is no JSON or no `media`, `mark` or `clear`.
   */
  readonly warnings: { code: 31950 | 31951; data: string }[] = [];
  readonly streamSid: string;
  readonly callSid: string;

  #socket: MediaSocket;
  #closedWith!: (code: number) => void;
  #queue: QueuedAudio[] = [];
  #heard: Uint8Array[] = [];
  #playheadEnd = 0;
  #pendingMarks: PendingMark[] = [];
  #waiters: {
    match: (m: TwilioOutbound) => boolean;
    resolve: (m: TwilioOutbound) => void;
    reject: (error: Error) => void;
    event: string;
  }[] = [];
  #echoWaiters: {
    name: string;
    resolve: (m: { name: string; at: number; flushed: boolean }) => void;
    reject: (error: Error) => void;
  }[] = [];
  #sequence = 0;
  #connectedSent = false;
  #chunk = 0;

  private constructor(socket: MediaSocket, callSid: string, streamSid: string) {
    this.#socket = socket;
    this.callSid = callSid;
    this.streamSid = streamSid;
    this.closed = new Promise((resolve) => this.#closedWith = resolve);
    // Nothing more can arrive once the socket closed: a test waiting for it fails, saying what it waited
    // for, instead of hanging.
    void this.closed.then(() => {
      for (const w of this.#waiters) {
        w.reject(new Error(`the media socket closed before a ${w.event} message came`));
      }
      for (const w of this.#echoWaiters) {
        w.reject(new Error(`the media socket closed before mark ${w.name} was echoed`));
      }
      this.#waiters = [];
      this.#echoWaiters = [];
    });
  }

  /** Wraps Deno's WebSocket: every message parsed, recorded and played. */
  static #native(socket: WebSocket, callSid: string, streamSid: string): FakeTwilioCall {
    const call = new FakeTwilioCall(
      {
        get open() {
          return socket.readyState === WebSocket.OPEN;
        },
        send: (data) => socket.send(data),
        close: (code) => socket.close(code),
      },
      callSid,
      streamSid,
    );
    socket.onclose = (event) => {
      call.#stopPlayback();
      call.#closedWith(event.code);
    };
    socket.onmessage = (event) => {
      if (typeof event.data === "string") call.#onMessage(event.data);
      else call.warnings.push({ code: 31950, data: "(binary frame)" });
    };
    return call;
  }

  /**
   * Opens the media socket in the bench's lean mode: a raw client with Nagle off, Parley's
   * messages handed to `onText` unparsed, nothing recorded or played. `closed` resolves with 1005
   * (this client does not read the close code).
   */
  static async connectRaw(options: RawTwilioOptions): Promise<FakeTwilioCall> {
    const raw = await RawWebSocket.connect({
      hostname: options.hostname,
      port: options.port,
      path: options.path,
      headers: options.headers ?? {},
    }, { onText: options.onText, onClose: options.onClose });
    const call = new FakeTwilioCall(
      {
        get open() {
          return raw.open;
        },
        send: (data) => {
          if (typeof data !== "string") throw new TypeError("The raw client sends text frames only");
          raw.send(data);
        },
        close: (code) => raw.close(code),
      },
      options.callSid,
      options.streamSid,
    );
    void raw.closed.then(() => call.#closedWith(1005));
    return call;
  }

  /** Opens the media socket at `url`; resolves once open. */
  static async connect(url: string, options: FakeTwilioOptions = {}): Promise<FakeTwilioCall> {
    const id = crypto.randomUUID().replaceAll("-", "");
    const socket = new WebSocket(url, { headers: options.headers ?? {} });
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = (event) => reject(new Error(`Cannot open ${url}: ${(event as ErrorEvent).message}`));
    });
    socket.onerror = () => {};
    return FakeTwilioCall.#native(socket, options.callSid ?? `CA${id}`, `MZ${id}`);
  }

  /**
   * Sends `connected`, as Twilio does the moment the socket opens. A test timing `start` sends it
   * first: this client's socket has Nagle on (Deno's native WebSocket), so a `start` written right
   * behind it waits for the server's delayed ACK (~40 ms) before it leaves.
   */
  connected(): void {
    if (this.#connectedSent) return;
    this.#connectedSent = true;
    this.sendJson({ event: "connected", protocol: "Call", version: "1.0.0" });
  }

  /** Sends `connected` (unless sent already) and `start` as Twilio does when the stream begins. */
  start(customParameters: Record<string, string> = {}): void {
    this.connected();
    this.sendJson({
      event: "start",
      sequenceNumber: String(++this.#sequence),
      streamSid: this.streamSid,
      start: {
        streamSid: this.streamSid,
        accountSid: "AC00000000000000000000000000000000",
        callSid: this.callSid,
        tracks: ["inbound"],
        customParameters,
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
      },
    });
  }

  /** Sends one caller frame (normally 160 bytes = 20 ms). */
  sendMedia(bytes: Uint8Array): void {
    this.#chunk++;
    this.sendJson({
      event: "media",
      sequenceNumber: String(++this.#sequence),
      streamSid: this.streamSid,
      media: {
        track: "inbound",
        chunk: String(this.#chunk),
        timestamp: String(this.#chunk * 20),
        payload: toBase64(bytes),
      },
    });
  }

  /** Sends `stop`, as Twilio does when the caller hangs up. */
  stop(): void {
    this.sendJson({
      event: "stop",
      sequenceNumber: String(++this.#sequence),
      streamSid: this.streamSid,
      stop: { accountSid: "AC00000000000000000000000000000000", callSid: this.callSid },
    });
  }

  /** True while the socket is open. */
  get open(): boolean {
    return this.#socket.open;
  }

  /** The next `sequenceNumber` (for a message built by hand, as the bench builds its frames). */
  nextSequence(): number {
    return ++this.#sequence;
  }

  /** Sends a JSON message. */
  sendJson(message: unknown): void {
    this.sendRaw(JSON.stringify(message));
  }

  /** Sends anything, for hostile-input tests. */
  sendRaw(data: string | Uint8Array): void {
    if (this.#socket.open) this.#socket.send(data);
  }

  /** Closes the socket from the Twilio side. */
  close(): void {
    this.#stopPlayback();
    if (this.#socket.open) this.#socket.close(1000);
  }

  /** Messages of `event` received so far. */
  messagesOf(event: string): TwilioOutbound[] {
    return this.received.filter((m) => m.event === event);
  }

  /** Resolves with the first message (already received or future) of `event` matching `match`. */
  waitFor(event: string, match: (m: TwilioOutbound) => boolean = () => true): Promise<TwilioOutbound> {
    const full = (m: TwilioOutbound) => m.event === event && match(m);
    const found = this.received.find(full);
    if (found !== undefined) return Promise.resolve(found);
    return settledLater((resolve, reject) => this.#waiters.push({ match: full, resolve, reject, event }));
  }

  /** Resolves when the mark `name` has been echoed, i.e. playback reached it (or `clear` flushed it). */
  waitForEcho(name: string): Promise<{ name: string; at: number; flushed: boolean }> {
    const found = this.echoedMarks.find((m) => m.name === name);
    if (found !== undefined) return Promise.resolve(found);
    return settledLater((resolve, reject) => this.#echoWaiters.push({ name, resolve, reject }));
  }

  /** The audio the caller has heard up to now, in order. */
  heardAudio(now = performance.now()): Uint8Array {
    const parts = [...this.#heard];
    for (const audio of this.#queue) {
      if (audio.start >= now) break;
      // Played to its end: all of it (end - start can come out a hair under its length in floating point).
      const playedBytes = now >= audio.end ? audio.bytes.length : Math.floor((now - audio.start) * 8);
      parts.push(audio.bytes.subarray(0, Math.min(audio.bytes.length, playedBytes)));
    }
    return concat(parts);
  }

  /** Milliseconds heard of audio whose bytes equal `value` (each fake answer uses its own value). */
  heardMsOf(value: number, now = performance.now()): number {
    return this.heardAudio(now).reduce((n, byte) => n + (byte === value ? 1 : 0), 0) / 8;
  }

  #onMessage(data: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      this.warnings.push({ code: 31951, data });
      return;
    }
    const message = { ...(parsed as object), at: performance.now() } as TwilioOutbound;
    if (!["media", "mark", "clear"].includes(message.event)) this.warnings.push({ code: 31951, data });
    if (message.event === "media" && !TWILIO_BASE64.test(String(message.media?.payload))) {
      this.warnings.push({ code: 31951, data });
      return;
    }
    this.received.push(message);
    if (message.event === "media") this.#play(fromBase64(message.media.payload), message.at);
    else if (message.event === "mark") this.#queueMark(message.mark.name, message.at);
    else if (message.event === "clear") this.#clear(message.at);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(message)) return true;
      w.resolve(message);
      return false;
    });
  }

  #play(bytes: Uint8Array, now: number): void {
    this.#settle(now);
    const start = Math.max(now, this.#playheadEnd);
    const end = start + bytes.length / 8;
    this.#queue.push({ bytes, start, end });
    this.#playheadEnd = end;
  }

  #queueMark(name: string, now: number): void {
    const due = this.#playheadEnd;
    const mark: PendingMark = { name, timer: undefined };
    // Whole milliseconds, rounded up, and checked when the timer fires: a timer of 399.875 ms may fire
    // at 399, and one of 400 a fraction of a millisecond before performance.now() reaches it, before
    // playback reaches the mark; Twilio never echoes a mark early.
    const arm = (from: number) => {
      mark.timer = setTimeout(() => {
        const at = performance.now();
        if (at < due) return arm(at);
        this.#pendingMarks = this.#pendingMarks.filter((m) => m !== mark);
        this.#echo(name, false);
      }, Math.max(0, Math.ceil(due - from)));
    };
    arm(now);
    this.#pendingMarks.push(mark);
  }

  #clear(now: number): void {
    this.#settle(now);
    const playing = this.#queue[0];
    if (playing !== undefined && playing.start < now) {
      this.#heard.push(playing.bytes.subarray(0, Math.floor((now - playing.start) * 8)));
    }
    this.#queue = [];
    this.#playheadEnd = now;
    for (const mark of this.#pendingMarks.splice(0)) {
      clearTimeout(mark.timer);
      this.#echo(mark.name, true);
    }
  }

  /** Moves fully played audio from the queue to what was heard. */
  #settle(now: number): void {
    while (this.#queue.length > 0 && this.#queue[0]!.end <= now) this.#heard.push(this.#queue.shift()!.bytes);
  }

  #echo(name: string, flushed: boolean): void {
    const echo = { name, at: performance.now(), flushed };
    this.echoedMarks.push(echo);
    this.#echoWaiters = this.#echoWaiters.filter((w) => {
      if (w.name !== name) return true;
      w.resolve(echo);
      return false;
    });
    this.sendJson({
      event: "mark",
      sequenceNumber: String(++this.#sequence),
      streamSid: this.streamSid,
      mark: { name },
    });
  }

  #stopPlayback(): void {
    for (const mark of this.#pendingMarks.splice(0)) clearTimeout(mark.timer);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
