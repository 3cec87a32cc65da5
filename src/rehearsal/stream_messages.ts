/**
 * The Media Stream messages the virtual phone writes, as Twilio writes them: `connected`, `start`,
 * `media`, `dtmf`, `mark` and `stop`, each numbered by the caller.
 *
 * @module
 */

/** The account SID the virtual phone's messages carry (Twilio's test account shape). */
const ACCOUNT_SID = "AC00000000000000000000000000000000";

/** `connected`: the first message on the socket. */
export function connectedMessage(): unknown {
  return { event: "connected", protocol: "Call", version: "1.0.0" };
}

/** `start`: the stream's parameters and the TwiML's `<Parameter>`s. */
export function startMessage(
  sequence: number,
  ids: { streamSid: string; callSid: string },
  customParameters: Record<string, string>,
): unknown {
  return {
    event: "start",
    sequenceNumber: String(sequence),
    streamSid: ids.streamSid,
    start: {
      streamSid: ids.streamSid,
      accountSid: ACCOUNT_SID,
      callSid: ids.callSid,
      tracks: ["inbound"],
      customParameters,
      mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
    },
  };
}

/** `media`: chunk number `chunk` of the caller's audio (base64 μ-law), at `chunk × frameMs`. */
export function mediaMessage(
  sequence: number,
  streamSid: string,
  chunk: number,
  frame: { payload: string; frameMs: number },
): unknown {
  return {
    event: "media",
    sequenceNumber: String(sequence),
    streamSid,
    media: {
      track: "inbound",
      chunk: String(chunk),
      timestamp: String(chunk * frame.frameMs),
      payload: frame.payload,
    },
  };
}

/** `dtmf`: one key pressed by the caller. */
export function dtmfMessage(sequence: number, streamSid: string, digit: string): unknown {
  return {
    event: "dtmf",
    streamSid,
    sequenceNumber: String(sequence),
    dtmf: { track: "inbound_track", digit },
  };
}

/** `mark`: the echo of a mark playback reached (or `clear` flushed). */
export function markMessage(sequence: number, streamSid: string, name: string): unknown {
  return { event: "mark", sequenceNumber: String(sequence), streamSid, mark: { name } };
}

/** `stop`: the caller hung up. */
export function stopMessage(sequence: number, ids: { streamSid: string; callSid: string }): unknown {
  return {
    event: "stop",
    sequenceNumber: String(sequence),
    streamSid: ids.streamSid,
    stop: { accountSid: ACCOUNT_SID, callSid: ids.callSid },
  };
}

/** `bytes` as base64. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
