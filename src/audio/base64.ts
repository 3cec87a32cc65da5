/**
 * The one check that text is base64 audio as Twilio plays it: Twilio's caller frames are checked with
 * it, and so is every agent audio delta an engine hands on, since Parley writes payloads into Twilio's
 * JSON untouched (a quote or a control character in one would break the frame).
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
