/**
 * G.711 μ-law, the telephone codec Twilio Media Streams carry (8 kHz, one byte a sample).
 *
 * Parley relays caller and agent audio untouched; it only synthesises audio of its own (keypad
 * tones) and, in tests, measures what a listener heard. Both need the codec, and this is its only copy.
 *
 * @module
 */

const BIAS = 0x84;
const CLIP = 32_635;

/**
 * Encodes one signed 16-bit linear sample as a μ-law byte.
 *
 * @example
 * ```ts
 * encodeMulawSample(0); // 0xff (μ-law silence)
 * ```
 */
export function encodeMulawSample(sample: number): number {
  let value = Math.max(-32_768, Math.min(32_767, Math.round(sample)));
  const sign = value < 0 ? 0x80 : 0;
  if (sign) value = -value;
  if (value > CLIP) value = CLIP;
  value += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (value & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (value >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** Decodes one μ-law byte to a signed 16-bit linear sample. */
export function decodeMulawSample(byte: number): number {
  const value = ~byte & 0xff;
  const magnitude = ((((value & 0x0f) << 3) + BIAS) << ((value >> 4) & 0x07)) - BIAS;
  return value & 0x80 && magnitude !== 0 ? -magnitude : magnitude;
}

/** Encodes linear samples (−32768 … 32767) as μ-law bytes. */
export function encodeMulaw(samples: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = encodeMulawSample(samples[i]!);
  return out;
}

/** Decodes μ-law bytes to linear samples. */
export function decodeMulaw(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = decodeMulawSample(bytes[i]!);
  return out;
}
