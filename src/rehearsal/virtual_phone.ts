/**
 * The virtual phone: does what Twilio does for a call, against a running Parley, so a rehearsal
 * goes through the real call path (the same webhook, media socket, relay, barge-in and records).
 *
 * - posts the signed voice webhook (`?persona=…`, the scenario's parameters, `parley_source=rehearsal`);
 * - opens the signed media socket at the stream URL the TwiML names, sends `connected` and `start`
 *   with the TwiML's `<Parameter>`s;
 * - every 20 ms of wall clock sends one 160-byte μ-law frame of the caller (silence when the caller
 *   is quiet, as a phone line does) and plays 20 ms of the agent's audio (or silence), handing it
 *   to {@linkcode VirtualPhoneHandlers.onHeard}: the caller hears it paced in real time, whatever
 *   speed Parley sends it at;
 * - echoes each `mark` when playback reaches it; `clear` drops the unplayed audio and echoes every
 *   pending mark at once, as Twilio documents;
 * - with the scenario's `caller.answeredBy`, posts the signed answering-machine detection callback
 *   (`AnsweredBy`) to Parley's status callback URL as Twilio's asynchronous AMD does: right after
 *   `start`, or for `machine_end_*` once the caller's greeting has ended (it spoke, then stayed quiet
 *   {@linkcode GREETING_END_MS}), as `DetectMessageEnd` waits for the beep;
 * - sends `dtmf` for key presses, `stop` when the caller hangs up, and posts the signed
 *   `<Connect action>` request once the stream has ended.
 *
 * @module
 */

import {
  askConnectAction,
  openMediaSocket,
  type ParleyTarget,
  postAmdCallback,
  postVoiceWebhook,
} from "./phone_requests.ts";
import { PlaybackQueue } from "./playback_queue.ts";
import { CallerSpeech, FRAME_BYTES, SILENCE } from "./caller_speech.ts";
import {
  connectedMessage,
  dtmfMessage,
  markMessage,
  mediaMessage,
  startMessage,
  stopMessage,
  toBase64,
} from "./stream_messages.ts";
import type { AnsweredBy } from "./types.ts";

export type { ParleyTarget } from "./phone_requests.ts";

/** One frame of the phone line: 20 ms of 8 kHz μ-law. */
export const FRAME_MS = 20;
/** One frame of silence, base64. */
const SILENT_FRAME = btoa(String.fromCharCode(...new Uint8Array(FRAME_BYTES).fill(SILENCE)));
/** Quiet after the caller spoke that ends a machine's greeting, ms (when `machine_end_*` is posted). */
export const GREETING_END_MS = 500;
/** Frames sent at once at most when the event loop fell behind (Twilio's own bursts are short). */
const MAX_CATCH_UP_FRAMES = 5;

/** What the phone tells its caller. */
export interface VirtualPhoneHandlers {
  /**
   * Every 20 ms: what the line carries from the agent, base64 μ-law, as it is played (silence while
   * the agent is quiet; less than 20 ms at the end of an answer).
   */
  onHeard(payload: string): void;
  /** The agent's unplayed audio was cleared (the caller cut in). */
  onCleared?(): void;
  /** Every 20 ms frame, after it was sent and played. */
  onFrame?(): void;
}

/** How the call went, as the phone saw it. */
export interface PhoneCallResult {
  callSid: string;
  /** Who ended the stream: the caller (`stop`) or Parley (it closed the socket). */
  endedBy: "caller" | "parley";
  /**
   * The longest time with neither the agent's audio playing nor the caller speaking, ms, by the wall
   * clock: frames skipped when the phone fell behind count, unless audio waited to fill them.
   */
  maxDeadAirMs: number;
  /** Agent audio played to the caller, ms. */
  heardMs: number;
  /** `clear` messages received. */
  clears: number;
  /** Marks echoed (played, or flushed by `clear`). */
  marksEchoed: number;
  /** The `<Connect action>` answer (TwiML), once the stream ended. */
  afterStream: string | undefined;
  /**
   * The answering-machine detection callback, when the call had `answeredBy`: "sent", "not sent"
   * (the stream ended first), or why Parley did not take it.
   */
  amdCallback?: { answeredBy: AnsweredBy; outcome: string };
}

/** What to dial. */
export interface DialOptions {
  persona: string;
  parameters?: Record<string, string>;
  /** The agent's voice (the `voice` call parameter). */
  voice?: string;
  /** @default a random CallSid */
  callSid?: string;
  /** Caller id shown on the record. @default "+15005550006" (a Twilio test number) */
  from?: string;
  /** What answering-machine detection posts for this call (`AnsweredBy`). @default none */
  answeredBy?: AnsweredBy;
}

/** One call placed by the virtual phone. */
export class VirtualPhone {
  readonly callSid: string;
  readonly streamSid: string;
  /** Resolves once the stream ended (either side) and the `<Connect action>` was asked. */
  readonly ended: Promise<PhoneCallResult>;
  #socket: WebSocket;
  #target: ParleyTarget;
  #handlers: VirtualPhoneHandlers;
  #actionUrl: string | undefined;
  #playback = new PlaybackQueue();
  #speech = new CallerSpeech();
  #keys: string[] = [];
  #sequence = 0;
  #chunk = 0;
  #framesDone = 0;
  #startedAt = 0;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #silentFrames = 0;
  #answeredBy: AnsweredBy | undefined;
  /** The caller has spoken (a machine's greeting has begun). */
  #callerSpoke = false;
  /** Frames the caller has been quiet since it last spoke. */
  #callerQuietFrames = 0;
  #amdPost: Promise<void> | undefined;
  #result: Omit<PhoneCallResult, "afterStream">;

  private constructor(
    socket: WebSocket,
    target: ParleyTarget,
    callSid: string,
    actionUrl: string | undefined,
    handlers: VirtualPhoneHandlers,
    answeredBy: AnsweredBy | undefined,
  ) {
    this.#socket = socket;
    this.#target = target;
    this.callSid = callSid;
    this.streamSid = `MZ${crypto.randomUUID().replaceAll("-", "")}`;
    this.#actionUrl = actionUrl;
    this.#handlers = handlers;
    this.#answeredBy = answeredBy;
    this.#result = {
      callSid,
      endedBy: "parley",
      maxDeadAirMs: 0,
      heardMs: 0,
      clears: 0,
      marksEchoed: 0,
      ...(answeredBy === undefined ? {} : { amdCallback: { answeredBy, outcome: "not sent" } }),
    };
    this.ended = new Promise((resolve) => {
      socket.onclose = () => {
        clearInterval(this.#ticker);
        this.#noteSilence(true);
        void Promise.resolve(this.#amdPost).then(() => this.#askAction()).then((afterStream) =>
          resolve({ ...this.#result, afterStream })
        );
      };
    });
    socket.onmessage = (event) => {
      if (typeof event.data === "string") this.#onMessage(event.data);
    };
  }

  /**
   * Calls `options.persona` at `target`: the webhook, then the media socket and `start`.
   *
   * @throws {Error} when the webhook answers no stream or the socket cannot open, saying what came back.
   */
  static async dial(
    target: ParleyTarget,
    options: DialOptions,
    handlers: VirtualPhoneHandlers,
  ): Promise<VirtualPhone> {
    const callSid = options.callSid ?? `CA${crypto.randomUUID().replaceAll("-", "")}`;
    const query = new URLSearchParams({
      ...options.parameters,
      ...(options.voice === undefined ? {} : { voice: options.voice }),
      persona: options.persona,
      parley_source: "rehearsal",
    });
    const connect = await postVoiceWebhook(target, callSid, query, options.from ?? "+15005550006");
    const socket = await openMediaSocket(target, connect.streamUrl);
    const phone = new VirtualPhone(socket, target, callSid, connect.actionUrl, handlers, options.answeredBy);
    phone.#begin(connect.parameters);
    // Without waiting for the message's end, Twilio's detection answers early (human, machine_start, …).
    if (options.answeredBy !== undefined && !options.answeredBy.startsWith("machine_end_")) phone.#postAmd();
    return phone;
  }

  /** Queues the caller's speech (base64 μ-law, any length): it goes out in 20 ms frames. */
  say(payload: string): void {
    this.#speech.say(payload);
  }

  /** Drops the caller's speech not yet sent (the caller stopped talking); returns the bytes dropped. */
  stopTalking(): number {
    return this.#speech.stopTalking();
  }

  /** True when none of the caller's speech waits to be sent. */
  quiet(): boolean {
    return this.#speech.quiet();
  }

  /** Presses `digits` (0-9, *, #), one `dtmf` message each, one per frame. */
  pressKeys(digits: string): void {
    for (const digit of digits) if (/^[0-9*#]$/.test(digit)) this.#keys.push(digit);
  }

  /** Hangs up: `stop`, then the socket closes. Idempotent. */
  hangUp(): void {
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    this.#result.endedBy = "caller";
    this.#send(stopMessage(++this.#sequence, this));
    this.#socket.close(1000);
  }

  #begin(customParameters: Record<string, string>): void {
    this.#send(connectedMessage());
    this.#send(startMessage(++this.#sequence, this, customParameters));
    this.#startedAt = performance.now();
    this.#ticker = setInterval(() => this.#tick(), FRAME_MS / 2);
  }

  /** Sends and plays the frames due by the wall clock. */
  #tick(): void {
    const due = Math.floor((performance.now() - this.#startedAt) / FRAME_MS);
    const behind = due - this.#framesDone;
    if (behind > MAX_CATCH_UP_FRAMES) this.#skipFrames(behind - MAX_CATCH_UP_FRAMES);
    while (this.#framesDone < due && this.#socket.readyState === WebSocket.OPEN) {
      this.#framesDone++;
      this.#frame();
    }
  }

  /**
   * Behind by more than a short burst: the missed frames are skipped, as a phone line would drop them.
   * Nothing was sent or played then, so that time was silence, unless the agent's audio or the caller's
   * speech waited to fill it (it plays right after, late): a gap inside a sound is no dead air.
   */
  #skipFrames(frames: number): void {
    this.#framesDone += frames;
    if (!this.#playback.hasAudio() && this.#speech.quiet()) this.#silentFrames += frames;
  }

  #frame(): void {
    const spoke = this.#sendCallerFrame();
    this.#listenForGreetingEnd(spoke);
    const key = this.#keys.shift();
    if (key !== undefined) this.#send(dtmfMessage(++this.#sequence, this.streamSid, key));
    const played = this.#playFrame();
    if (spoke || played) this.#noteSilence(false);
    else this.#silentFrames++;
    this.#handlers.onFrame?.();
  }

  #sendCallerFrame(): boolean {
    const { frame, filled } = this.#speech.nextFrame();
    this.#chunk++;
    this.#send(
      mediaMessage(++this.#sequence, this.streamSid, this.#chunk, {
        payload: toBase64(frame),
        frameMs: FRAME_MS,
      }),
    );
    return filled > 0;
  }

  /** Plays up to 20 ms of the agent's audio (silence when none); echoes the marks playback reaches. */
  #playFrame(): boolean {
    const { audio, marks } = this.#playback.play(FRAME_BYTES);
    for (const name of marks) this.#echo(name);
    if (audio === undefined) {
      // A phone line carries silence too: the caller's voice activity detection needs it to hear
      // that the agent stopped talking.
      this.#handlers.onHeard(SILENT_FRAME);
      return false;
    }
    this.#result.heardMs += audio.length / 8;
    this.#handlers.onHeard(toBase64(audio));
    return true;
  }

  /** For `machine_end_*`: the greeting ended once the caller spoke and then stayed quiet a while. */
  #listenForGreetingEnd(spoke: boolean): void {
    if (this.#answeredBy?.startsWith("machine_end_") !== true || this.#amdPost !== undefined) return;
    if (spoke) {
      this.#callerSpoke = true;
      this.#callerQuietFrames = 0;
    } else if (this.#callerSpoke && ++this.#callerQuietFrames * FRAME_MS >= GREETING_END_MS) {
      this.#postAmd();
    }
  }

  /** Posts the answering-machine detection result, once. */
  #postAmd(): void {
    const answeredBy = this.#answeredBy;
    if (answeredBy === undefined || this.#amdPost !== undefined) return;
    const detectionMs = performance.now() - this.#startedAt;
    this.#amdPost = postAmdCallback(this.#target, this.callSid, answeredBy, detectionMs).then((outcome) => {
      this.#result.amdCallback = { answeredBy, outcome };
    });
  }

  #echo(name: string): void {
    this.#result.marksEchoed++;
    this.#send(markMessage(++this.#sequence, this.streamSid, name));
  }

  #onMessage(text: string): void {
    let message: { event?: string; media?: { payload?: string }; mark?: { name?: string } };
    try {
      message = JSON.parse(text);
    } catch {
      return; // Twilio ignores what it cannot read
    }
    if (message.event === "media" && typeof message.media?.payload === "string") {
      const bytes = Uint8Array.from(atob(message.media.payload), (c) => c.charCodeAt(0));
      this.#playback.pushAudio(bytes);
    } else if (message.event === "mark" && typeof message.mark?.name === "string") {
      this.#playback.pushMark(message.mark.name);
    } else if (message.event === "clear") {
      this.#result.clears++;
      for (const name of this.#playback.clear()) this.#echo(name);
      this.#handlers.onCleared?.();
    }
  }

  #noteSilence(final: boolean): void {
    this.#result.maxDeadAirMs = Math.max(this.#result.maxDeadAirMs, this.#silentFrames * FRAME_MS);
    if (!final) this.#silentFrames = 0;
  }

  #askAction(): Promise<string | undefined> {
    if (this.#actionUrl === undefined) return Promise.resolve(undefined);
    return askConnectAction(this.#target, this.#actionUrl, this.callSid);
  }

  #send(message: unknown): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }
}
