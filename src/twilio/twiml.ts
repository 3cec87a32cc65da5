/**
 * The TwiML Parley answers Twilio with: `<Connect action><Stream>` to our media socket, carrying the
 * persona and the webhook's query parameters as `<Parameter>`s; and, when the stream has ended, the
 * `<Connect action>` answers: `<Hangup/>`, `<Dial>` to a person, or the fallback `<Say>`.
 *
 * @module
 */

import VoiceResponse from "twilio/lib/twiml/VoiceResponse.js";

/** Twilio's limit on a `<Parameter>` name or value, in characters. */
export const MAX_PARAMETER_CHARS = 500;

/** Said when the persona has no `fallbackMessage`. */
export const DEFAULT_FALLBACK_MESSAGE =
  "Sorry, our assistant can't take your call right now. Please try again later.";

/** Said when a transfer's dial fails and the persona has no `transferFailedMessage`. */
export const DEFAULT_TRANSFER_FAILED_MESSAGE =
  "Sorry, nobody could take your call right now. Please try again later.";

/** Options for {@linkcode connectStreamTwiml}. */
export interface ConnectStreamOptions {
  /** The `wss://` URL of the media socket. */
  streamUrl: string;
  /** Sent as `<Parameter>`s; they arrive in the stream's `start.customParameters`. */
  parameters: Readonly<Record<string, string>>;
  /** Twilio requests this URL (`<Connect action>`) when the stream ends; its answer runs next. */
  actionUrl: string;
}

/**
 * Builds the `<Connect><Stream>` response.
 *
 * @example
 * ```ts
 * connectStreamTwiml({
 *   streamUrl: "wss://abc.ngrok.app/twilio-realtime-voice",
 *   parameters: { persona: "alex", lead: "Dana" },
 *   actionUrl: "https://abc.ngrok.app/api/twilio/after-stream?persona=alex",
 * });
 * ```
 */
export function connectStreamTwiml(options: ConnectStreamOptions): string {
  const response = new VoiceResponse();
  const stream = response.connect({ action: options.actionUrl, method: "POST" }).stream({
    url: options.streamUrl,
  });
  for (const [name, value] of Object.entries(options.parameters)) stream.parameter({ name, value });
  return response.toString();
}

/** `<Hangup/>`: the call ends (after end_call, a voicemail, or when the caller already left). */
export function hangupTwiml(): string {
  const response = new VoiceResponse();
  response.hangup();
  return response.toString();
}

/** Options of {@linkcode dialTwiml}. */
export interface DialOptions {
  /** The E.164 number to transfer the caller to. */
  target: string;
  /** Twilio requests this URL with `DialCallStatus` when the dialled leg ends. */
  actionUrl: string;
  /** Seconds to let the target ring. */
  timeoutSeconds: number;
}

/**
 * `<Dial>`: the caller is transferred to `target`.
 *
 * @example
 * ```ts
 * dialTwiml({ target: "+14155550100", actionUrl: "https://…/api/twilio/dial-action", timeoutSeconds: 30 });
 * ```
 */
export function dialTwiml(options: DialOptions): string {
  const response = new VoiceResponse();
  response.dial(
    { action: options.actionUrl, method: "POST", timeout: options.timeoutSeconds },
    options.target,
  );
  return response.toString();
}

/** `<Say>` then `<Hangup/>`: e.g. a transfer that failed. */
export function sayThenHangupTwiml(message: string): string {
  const response = new VoiceResponse();
  response.say(message);
  response.hangup();
  return response.toString();
}

/**
 * TwiML that only says `message` and hangs up: the answer when Parley takes no new call (at
 * `MAX_CONCURRENT_CALLS`, or draining for a deploy). No stream, so no OpenAI session is opened.
 *
 * @example
 * ```ts
 * fallbackTwiml("Sorry, we're busy."); // <?xml …?><Response><Say>Sorry, we're busy.</Say></Response>
 * ```
 */
export function fallbackTwiml(message: string): string {
  const response = new VoiceResponse();
  response.say(message);
  return response.toString();
}

/** Splits parameters into those Twilio accepts and the names of those too long to pass on. */
export function fitParameters(parameters: Readonly<Record<string, string>>): {
  kept: Record<string, string>;
  dropped: string[];
} {
  const kept: Record<string, string> = {};
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(parameters)) {
    if (name === "" || name.length >= MAX_PARAMETER_CHARS || value.length >= MAX_PARAMETER_CHARS) {
      dropped.push(name);
    } else kept[name] = value;
  }
  return { kept, dropped };
}
