/**
 * Twilio Media Streams messages: parsing what Twilio sends and building the three messages we
 * send back (`media`, `mark`, `clear`). Nothing outside `src/twilio` knows Twilio's JSON shape.
 *
 * Parsing never throws: a bad frame becomes `{ event: "invalid", problem }` so the relay can log it
 * and go on with the call.
 *
 * @module
 */

import { isBase64 } from "../audio/base64.ts";
import { QuietWatch } from "../http/quiet_watch.ts";

/** Largest text frame Parley accepts from Twilio. Real frames are ~400 bytes; `start` a few KiB. */
export const MAX_TWILIO_FRAME_CHARS = 64 * 1024;

/**
 * A frame this large (characters, or bytes for a binary frame) closes the media socket with 1009.
 * Deno 2.9.6 offers no message size limit of its own below 64 MiB (`Deno.upgradeWebSocket` takes
 * only `protocol` and `idleTimeout`): it buffers a whole frame and decodes it before any check runs,
 * about 1 ms of stalled event loop per MiB, so a peer is allowed one such frame, not a stream of them.
 * Frames between {@linkcode MAX_TWILIO_FRAME_CHARS} and this are ignored and the call goes on.
 */
export const CLOSE_ON_FRAME_CHARS = 4 * 1024 * 1024;

/** WebSocket close code for a message too big to process (RFC 6455). */
export const MESSAGE_TOO_BIG = 1009;

/** The guard {@linkcode closeOnHugeFrames} put on a socket, for the listener that reads it. */
export interface HugeFrameGuard {
  /**
   * True when a frame (the message event's `data`) may be read. False when it must be ignored: it is
   * huge (the socket is closed now, 1009, and the size reported), or the socket was closed for one.
   */
  admits(data: unknown): boolean;
  /** Why Parley closed the socket (a huge frame, or silence), once it has; undefined before. */
  readonly closedBecause: string | undefined;
}

const hugeFrameGuards = new WeakMap<object, HugeFrameGuard>();

/**
 * Closes `socket` (1009) on its first frame over {@linkcode CLOSE_ON_FRAME_CHARS}, before the relay
 * reads the frame, and reports its size once; no frame after it is read. Call it right after the
 * upgrade, before the relay listens. Binary frames arrive as an `ArrayBuffer` (no Blob copy).
 *
 * The check runs in the message listener of the relay's Twilio leg, which takes the guard with
 * {@linkcode hugeFrameGuardOf}: each frame is dispatched to one listener, not two.
 *
 * @example
 * ```ts
 * const { socket, response } = Deno.upgradeWebSocket(request);
 * closeOnHugeFrames(socket, (size) => log.warn(`Closed a media socket: a frame of ${size} characters`));
 * ```
 */
export function closeOnHugeFrames(socket: WebSocket, onClosed: (size: number) => void): void {
  socket.binaryType = "arraybuffer";
  let closedBecause: string | undefined;
  hugeFrameGuards.set(socket, {
    get closedBecause() {
      return closedBecause;
    },
    admits(data) {
      if (closedBecause !== undefined) return false;
      const size = typeof data === "string" ? data.length : data instanceof ArrayBuffer ? data.byteLength : 0;
      if (size <= CLOSE_ON_FRAME_CHARS) return true;
      closedBecause = `a frame of ${size} characters`;
      onClosed(size);
      try {
        socket.close(MESSAGE_TOO_BIG, "frame too large");
      } catch { /* already closing */ }
      return false;
    },
  });
}

/** WebSocket close code for an endpoint going away (RFC 6455): a media socket that went silent. */
export const GOING_AWAY = 1001;

/** A media socket that has sent no frame for this long is closed, ms (Twilio sends one every 20 ms). */
export const MEDIA_SILENCE_MS = 30_000;

/**
 * Closes `socket` (1001) once it has sent no frame for `silentMs` (checked every third of it, so
 * within 4/3 of it, never before it), and reports it once. Twilio sends a frame every 20 ms for as
 * long as a stream lives, silence included, so a quiet media socket is a dead one: a half-open
 * connection after a network fault. Call it after {@linkcode closeOnHugeFrames}, with the upgrade's
 * `idleTimeout: 0`.
 *
 * It stands in for Deno's own idle timeout (ping after half the timeout, close without a pong), which
 * cancels and creates a timer on every frame received: here the frames are counted in the guard the
 * leg already calls, and one interval a call reads the count.
 *
 * @example
 * ```ts
 * const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: 0 });
 * closeOnHugeFrames(socket, (size) => log.warn(`a frame of ${size} characters`));
 * closeWhenSilent(socket, MEDIA_SILENCE_MS, () => log.warn("Twilio sent nothing for 30 s"));
 * ```
 */
export function closeWhenSilent(socket: WebSocket, silentMs: number, onClosed: () => void): void {
  const CHECKS = 3;
  const inner = hugeFrameGuards.get(socket);
  let silent = false;
  const watch = new QuietWatch(silentMs / CHECKS, (quiet, quietMs) => {
    // Both: a look that ran late saw frames that came after its time, so three quiet looks alone may
    // come up to that lateness early; the span since that look never does.
    if (quiet < CHECKS || quietMs < silentMs) return;
    watch.stop();
    silent = true;
    onClosed();
    try {
      socket.close(GOING_AWAY, "no frame");
    } catch { /* already closing */ }
  });
  socket.addEventListener("close", () => watch.stop());
  hugeFrameGuards.set(socket, {
    get closedBecause() {
      return inner?.closedBecause ?? (silent ? `no frame from Twilio for ${silentMs / 1000} s` : undefined);
    },
    admits(data) {
      watch.heard();
      return inner === undefined || inner.admits(data);
    },
  });
}

/**
 * The guard {@linkcode closeOnHugeFrames} (and {@linkcode closeWhenSilent}) put on `socket`, if any
 * (read once, by its listener).
 */
export function hugeFrameGuardOf(socket: object): HugeFrameGuard | undefined {
  return hugeFrameGuards.get(socket);
}

/** The `start` message's useful part. */
export interface StreamStart {
  streamSid: string;
  callSid: string;
  accountSid: string;
  customParameters: Record<string, string>;
}

/** One message from Twilio, or why it could not be used. */
export type TwilioInbound =
  | { event: "connected" }
  | { event: "start"; start: StreamStart }
  | {
    event: "media";
    payload: string;
    streamSid: string | undefined;
    /**
     * `media.timestamp`: ms since the stream started, on Twilio's clock. Undefined when absent or not
     * a non-negative integer string (a bad timestamp never rejects the frame).
     */
    timestamp: number | undefined;
  }
  | { event: "mark"; name: string }
  | { event: "dtmf"; digit: string }
  /** `streamSid`: the stream Twilio says stopped (undefined when the frame names none). */
  | { event: "stop"; streamSid: string | undefined }
  | { event: "invalid"; problem: string };

/**
 * A caller frame exactly as Twilio sends it (keys in Twilio's order, no spaces, no escapes), matched
 * whole: what `JSON.parse` would make of it is certain, so the hot path skips the parse and the
 * objects it builds. Group 1 is the streamSid, group 2 the timestamp's digits, group 3 the payload
 * (base64 characters; the caller checks its length). Any other text takes the full parse, which judges it as before.
 */
const MEDIA_FRAME =
  /^\{"event":"media","sequenceNumber":"\d{1,12}","streamSid":"([A-Za-z0-9]{1,64})","media":\{"track":"inbound","chunk":"\d{1,12}","timestamp":"(\d{1,15})","payload":"([A-Za-z0-9+/]*={0,2})"\}\}$/;

/** A mark echo exactly as Twilio sends it, matched whole likewise; group 1 is the mark's name. */
const MARK_ECHO =
  /^\{"event":"mark","sequenceNumber":"\d{1,12}","streamSid":"[A-Za-z0-9]{1,64}","mark":\{"name":"([\w.:-]{1,200})"\}\}$/;

/**
 * Parses one text frame from Twilio.
 *
 * @example
 * ```ts
 * const msg = parseTwilioMessage('{"event":"stop"}'); // { event: "stop", streamSid: undefined }
 * ```
 */
export function parseTwilioMessage(text: string): TwilioInbound {
  if (text.length > MAX_TWILIO_FRAME_CHARS) {
    return invalid(
      `frame of ${text.length} characters is larger than the ${MAX_TWILIO_FRAME_CHARS} Twilio ever sends`,
    );
  }
  const fast = MEDIA_FRAME.exec(text);
  if (fast !== null && fast[3]!.length % 4 === 0) {
    return { event: "media", payload: fast[3]!, streamSid: fast[1], timestamp: Number(fast[2]) };
  }
  const echo = MARK_ECHO.exec(text);
  if (echo !== null) return { event: "mark", name: echo[1]! };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return invalid("not JSON");
  }
  if (!isRecord(value)) return invalid("not a JSON object");
  const event = value.event;
  switch (event) {
    case "media": {
      const media = value.media;
      if (!isRecord(media) || typeof media.payload !== "string") {
        return invalid("media frame without media.payload");
      }
      if (media.track !== undefined && media.track !== "inbound") {
        return invalid(`media for track "${media.track}"`);
      }
      if (!isBase64(media.payload)) return invalid("media.payload is not base64");
      const streamSid = typeof value.streamSid === "string" ? value.streamSid : undefined;
      return {
        event: "media",
        payload: media.payload,
        streamSid,
        timestamp: mediaTimestamp(media.timestamp),
      };
    }
    case "mark": {
      const mark = value.mark;
      if (!isRecord(mark) || typeof mark.name !== "string") return invalid("mark frame without mark.name");
      return { event: "mark", name: mark.name };
    }
    case "start":
      return parseStart(value.start);
    case "connected":
      return { event: "connected" };
    case "stop": {
      // A streamSid that is not a string names no stream Parley can match: not this call's hang-up.
      const { streamSid } = value;
      if (streamSid !== undefined && typeof streamSid !== "string") {
        return invalid("stop frame whose streamSid is not a string");
      }
      return { event: "stop", streamSid };
    }
    case "dtmf": {
      const dtmf = value.dtmf;
      if (!isRecord(dtmf) || typeof dtmf.digit !== "string") return invalid("dtmf frame without dtmf.digit");
      return { event: "dtmf", digit: dtmf.digit };
    }
    default:
      return invalid(typeof event === "string" ? `unknown event "${event.slice(0, 40)}"` : "no event field");
  }
}

function parseStart(start: unknown): TwilioInbound {
  if (!isRecord(start)) return invalid("start frame without start object");
  const { streamSid, callSid, accountSid, customParameters } = start;
  if (typeof streamSid !== "string" || streamSid === "") {
    return invalid("start frame without start.streamSid");
  }
  if (typeof callSid !== "string" || callSid === "") return invalid("start frame without start.callSid");
  const parameters: Record<string, string> = {};
  if (isRecord(customParameters)) {
    for (const [key, v] of Object.entries(customParameters)) if (typeof v === "string") parameters[key] = v;
  }
  return {
    event: "start",
    start: {
      streamSid,
      callSid,
      accountSid: typeof accountSid === "string" ? accountSid : "",
      customParameters: parameters,
    },
  };
}

/** Digits of a timestamp Parley reads (15: exact as a number, and 31 000 years of ms). */
const TIMESTAMP = /^\d{1,15}$/;

/** `media.timestamp` as a number: a string of at most 15 digits, else undefined. */
function mediaTimestamp(value: unknown): number | undefined {
  return typeof value === "string" && TIMESTAMP.test(value) ? Number(value) : undefined;
}

function invalid(problem: string): TwilioInbound {
  return { event: "invalid", problem };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Builds the outbound messages for one stream. The streamSid is encoded once; each frame is then a
 * string concatenation around the untouched base64 payload (no JSON re-serialisation of audio).
 */
export class TwilioFrames {
  readonly #prefixMedia: string;
  readonly #prefixMark: string;
  readonly #clear: string;

  /** Prepares the frames of stream `streamSid`. */
  constructor(streamSid: string) {
    const sid = JSON.stringify(streamSid);
    this.#prefixMedia = `{"event":"media","streamSid":${sid},"media":{"payload":"`;
    this.#prefixMark = `{"event":"mark","streamSid":${sid},"mark":{"name":`;
    this.#clear = `{"event":"clear","streamSid":${sid}}`;
  }

  /** A `media` message carrying `payload` (base64 μ-law, already validated) as is. */
  media(payload: string): string {
    return this.#prefixMedia + payload + `"}}`;
  }

  /** A `mark` message; Twilio echoes it when playback reaches it. */
  mark(name: string): string {
    return this.#prefixMark + JSON.stringify(name) + "}}";
  }

  /** A `clear` message: Twilio drops queued audio and echoes every pending mark. */
  clear(): string {
    return this.#clear;
  }
}

/** Milliseconds of 8 kHz μ-law audio in a base64 payload (8 bytes per ms). */
export function mulawDurationMs(base64: string): number {
  let padding = 0;
  if (base64.endsWith("==")) padding = 2;
  else if (base64.endsWith("=")) padding = 1;
  const bytes = (base64.length / 4) * 3 - padding;
  return bytes / 8;
}
