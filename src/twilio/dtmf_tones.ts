/**
 * In-band keypad tones, for an agent that has to get through a phone menu ("press 2 for sales").
 *
 * Media Streams cannot send DTMF events toward the call, so the only way to press a key is to play
 * its tone: the sum of one row and one column frequency (ITU-T Q.23), as 8 kHz μ-law, ready to go to
 * Twilio as agent audio. Timing follows common dialler practice: ~100 ms of tone, ~60 ms of silence.
 * A `w` waits half a second, as in Twilio's own `sendDigits`.
 *
 * @module
 */

import { encodeMulaw } from "../audio/mulaw.ts";

/** Row (low-group) frequencies, Hz. */
export const DTMF_ROW_HZ = [697, 770, 852, 941] as const;
/** Column (high-group) frequencies, Hz. */
export const DTMF_COLUMN_HZ = [1209, 1336, 1477, 1633] as const;
/** The keypad, row by row, matching the frequency tables. */
export const DTMF_KEYPAD = ["123A", "456B", "789C", "*0#D"] as const;

/** The characters {@linkcode dtmfTones} plays: keys, plus `w` for a half-second pause. */
export const DTMF_KEYS_PATTERN = /^[0-9*#A-Dw]+$/;

/** Tone and gap lengths of {@linkcode dtmfTones}. */
export interface DtmfTiming {
  /** Tone length per key, ms. @default 100 */
  toneMs?: number;
  /** Silence after each key, ms. @default 60 */
  gapMs?: number;
  /** Silence for a `w`, ms. @default 500 */
  pauseMs?: number;
}

const SAMPLE_RATE = 8_000;
/** Each of the two tones at about −9 dBFS: loud enough for any detector, no clipping when summed. */
const AMPLITUDE = 0.35 * 32_767;

/** The frequencies of `key`, or undefined for a character that is not a key. */
export function dtmfFrequencies(key: string): [row: number, column: number] | undefined {
  for (let row = 0; row < DTMF_KEYPAD.length; row++) {
    const column = DTMF_KEYPAD[row]!.indexOf(key);
    if (column >= 0 && key.length === 1) return [DTMF_ROW_HZ[row]!, DTMF_COLUMN_HZ[column]!];
  }
  return undefined;
}

/**
 * The μ-law audio that presses `keys`, or an error naming the first character that is not a key.
 *
 * @example
 * ```ts
 * const tones = dtmfTones("2");
 * if (tones.ok) tones.audio.length; // 1280 bytes: 100 ms of tone + 60 ms of silence
 * ```
 */
export function dtmfTones(
  keys: string,
  timing: DtmfTiming = {},
): { ok: true; audio: Uint8Array } | { ok: false; problem: string } {
  if (keys === "") return { ok: false, problem: "no keys given; use digits 0-9, *, #, A-D or w (pause)" };
  const toneSamples = ms(timing.toneMs ?? 100);
  const gapSamples = ms(timing.gapMs ?? 60);
  const pauseSamples = ms(timing.pauseMs ?? 500);
  const pcm: number[] = [];
  for (const [index, key] of [...keys].entries()) {
    if (key === "w") {
      for (let i = 0; i < pauseSamples; i++) pcm.push(0);
      continue;
    }
    const frequencies = dtmfFrequencies(key);
    if (frequencies === undefined) {
      return {
        ok: false,
        problem: `"${key}" at position ${index + 1} is not a key; use digits 0-9, *, #, A-D or w (pause)`,
      };
    }
    const [low, high] = frequencies;
    for (let i = 0; i < toneSamples; i++) {
      const t = i / SAMPLE_RATE;
      pcm.push(AMPLITUDE * (Math.sin(2 * Math.PI * low * t) + Math.sin(2 * Math.PI * high * t)));
    }
    for (let i = 0; i < gapSamples; i++) pcm.push(0);
  }
  return { ok: true, audio: encodeMulaw(pcm) };
}

function ms(value: number): number {
  return Math.round((Math.max(0, value) * SAMPLE_RATE) / 1000);
}
