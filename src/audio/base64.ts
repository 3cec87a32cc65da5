/**
 * Checks of base64 audio text: the full one for Twilio's caller frames that miss the codec's fast
 * path, and the cheap one every agent audio delta passes before Parley writes it, untouched, into
 * Twilio's JSON.
 *
 * @module
 */

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * True when `text` is well-formed base64 (length a multiple of 4).
 *
 * @example
 * ```ts
 * isBase64("//8="); // true
 * isBase64("AAA"); // false
 * ```
 */
export function isBase64(text: string): boolean {
  return text.length % 4 === 0 && BASE64.test(text);
}

/**
 * True when `text` can be written as the payload of Twilio's `media` frame without leaving its string:
 * no quote or backslash (which could end the payload and add keys, e.g. an `"event":"clear"`), and a
 * length base64 can have. It runs on every agent audio delta, so it is two `indexOf` scans (about 30 ns
 * a 160-byte delta) rather than the full pattern of {@linkcode isBase64} (about 400 ns: as much as
 * parsing the event, about 1.5 % of the relay's CPU at 200 calls). What it lets through, a control
 * character or a letter base64 has not, only makes that one frame unreadable to Twilio, which answers
 * with warning 31951 and plays on: the call is not at stake, and OpenAI sends base64.
 *
 * @example
 * ```ts
 * fitsTwilioPayload("//8="); // true
 * fitsTwilioPayload('AAAA"},"event":"clear'); // false
 * ```
 */
export function fitsTwilioPayload(text: string): boolean {
  return text.length % 4 === 0 && text.indexOf('"') === -1 && text.indexOf("\\") === -1;
}
