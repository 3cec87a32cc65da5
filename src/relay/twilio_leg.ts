/**
 * The Twilio side of a call: the Media Stream socket behind a small interface. Frames come in
 * parsed (a binary or malformed frame is an `invalid` message, never an exception); audio, marks
 * and `clear` go out as Twilio's JSON, built by `src/twilio/media_stream.ts`.
 *
 * @module
 */

import {
  hugeFrameGuardOf,
  parseTwilioMessage,
  TwilioFrames,
  type TwilioInbound,
} from "../twilio/media_stream.ts";

/** What the leg needs of a socket: the WebSocket API's server side (`Deno.upgradeWebSocket`). */
export interface MediaSocket {
  readonly readyState: number;
  send(text: string): void;
  close(code?: number): void;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
}

/** What the leg reports. */
export interface TwilioLegHandlers {
  /** One frame from Twilio, parsed. */
  onMessage(message: TwilioInbound): void;
  /**
   * The socket closed: Twilio closed it (or it failed), or, with `closedBecause`, Parley's guard of the
   * media upgrade did (a huge frame, or silence).
   */
  onClose(closedBecause?: string): void;
}

const OPEN = 1;
const CONNECTING = 0;

/**
 * One call's Media Stream socket.
 *
 * @example
 * ```ts
 * const leg = new TwilioLeg(socket, { onMessage: (m) => …, onClose: () => … });
 * leg.begin("MZ…"); // after `start`
 * leg.sendAudio(payload, "item_1:0", undefined);
 * ```
 */
export class TwilioLeg {
  readonly #socket: MediaSocket;
  #frames: TwilioFrames | undefined;

  /** Listens on `socket` at once. */
  constructor(socket: MediaSocket, handlers: TwilioLegHandlers) {
    this.#socket = socket;
    // The huge-frame guard of the media upgrade, if any, checks each frame here: one listener a frame.
    const guard = hugeFrameGuardOf(socket);
    socket.onmessage = (event) => {
      const data: unknown = event.data;
      if (guard !== undefined && !guard.admits(data)) return;
      handlers.onMessage(
        typeof data === "string"
          ? parseTwilioMessage(data)
          : { event: "invalid", problem: "binary frame (Twilio only sends text)" },
      );
    };
    socket.onclose = () => handlers.onClose(guard?.closedBecause);
    socket.onerror = () => {}; // a close always follows
  }

  /** The stream started: outbound frames name `streamSid` from now on. */
  begin(streamSid: string): void {
    this.#frames = new TwilioFrames(streamSid);
  }

  /** True once {@linkcode begin} was called: audio can be sent. */
  get started(): boolean {
    return this.#frames !== undefined;
  }

  /** True while frames can be sent. */
  get open(): boolean {
    return this.#frames !== undefined && this.#socket.readyState === OPEN;
  }

  /** Sends agent audio (base64 μ-law, untouched) between its marks. False when it could not be sent. */
  sendAudio(payload: string, startMark: string | undefined, endMark: string | undefined): boolean {
    const frames = this.#frames;
    const socket = this.#socket;
    if (frames === undefined || socket.readyState !== OPEN) return false;
    if (startMark !== undefined) socket.send(frames.mark(startMark));
    socket.send(frames.media(payload));
    if (endMark !== undefined) socket.send(frames.mark(endMark));
    return true;
  }

  /** Sends a mark; Twilio echoes it when playback reaches it. */
  sendMark(name: string): void {
    if (this.open) this.#socket.send(this.#frames!.mark(name));
  }

  /** Sends `clear`: Twilio drops the audio it holds and echoes every pending mark. */
  clear(): void {
    if (this.open) this.#socket.send(this.#frames!.clear());
  }

  /** Closes the socket, which hands the call back to Twilio (the verb after `<Connect>`). */
  close(): void {
    const state = this.#socket.readyState;
    if (state !== OPEN && state !== CONNECTING) return;
    try {
      this.#socket.close(1000);
    } catch { /* already closing */ }
  }
}
