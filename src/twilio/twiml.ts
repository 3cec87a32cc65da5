/**
 * The TwiML Parley answers Twilio's voice webhook with: `<Connect><Stream>` to our media socket,
 * carrying the persona and the webhook's query parameters as `<Parameter>`s, then a fallback
 * `<Say>` that Twilio plays if the stream ends because the agent cannot be reached.
 *
 * @module
 */

import VoiceResponse from "twilio/lib/twiml/VoiceResponse.js";

/** Twilio's limit on a `<Parameter>` name or value, in characters. */
export const MAX_PARAMETER_CHARS = 500;

/** Said when the persona has no `fallbackMessage`. */
export const DEFAULT_FALLBACK_MESSAGE =
  "Sorry, our assistant can't take your call right now. Please try again later.";

/** Options for {@linkcode connectStreamTwiml}. */
export interface ConnectStreamOptions {
  /** The `wss://` URL of the media socket. */
  streamUrl: string;
  /** Sent as `<Parameter>`s; they arrive in the stream's `start.customParameters`. */
  parameters: Readonly<Record<string, string>>;
  /** Said after the stream ends. */
  fallbackMessage: string;
}

/**
 * Builds the `<Connect><Stream>` response.
 *
 * @example
 * ```ts
 * connectStreamTwiml({
 *   streamUrl: "wss://abc.ngrok.app/twilio-realtime-voice",
 *   parameters: { persona: "alex", lead: "Dana" },
 *   fallbackMessage: DEFAULT_FALLBACK_MESSAGE,
 * });
 * ```
 */
export function connectStreamTwiml(options: ConnectStreamOptions): string {
  const response = new VoiceResponse();
  const stream = response.connect().stream({ url: options.streamUrl });
  for (const [name, value] of Object.entries(options.parameters)) stream.parameter({ name, value });
  response.say(options.fallbackMessage);
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
