/**
 * A keypad-tone detector for the fakes: what a phone menu on the far end would hear.
 *
 * Goertzel filters on the eight DTMF frequencies over 205-sample blocks (the classic N for 8 kHz),
 * a key counted when its row and column stand well above the rest for two blocks in a row, and a new
 * key only after a block without one. It decodes independently of how Parley makes its tones.
 *
 * @module
 */

import { decodeMulaw } from "../src/audio/mulaw.ts";

const ROWS = [697, 770, 852, 941];
const COLUMNS = [1209, 1336, 1477, 1633];
const KEYPAD = ["123A", "456B", "789C", "*0#D"];
const BLOCK = 205;
const RATE = 8_000;

function goertzelPower(samples: Float64Array, frequency: number): number {
  const coefficient = 2 * Math.cos((2 * Math.PI * frequency) / RATE);
  let previous = 0;
  let beforePrevious = 0;
  for (const sample of samples) {
    const current = sample + coefficient * previous - beforePrevious;
    beforePrevious = previous;
    previous = current;
  }
  return previous * previous + beforePrevious * beforePrevious - coefficient * previous * beforePrevious;
}

function strongest(powers: number[]): { index: number; power: number; rest: number } {
  let index = 0;
  for (let i = 1; i < powers.length; i++) if (powers[i]! > powers[index]!) index = i;
  const rest = Math.max(0, ...powers.filter((_, i) => i !== index));
  return { index, power: powers[index]!, rest };
}

/** The key heard in one block, if any. */
function keyInBlock(block: Float64Array): string | undefined {
  let energy = 0;
  for (const sample of block) energy += sample * sample;
  if (energy / block.length < 1e4) return undefined; // quieter than about −50 dBFS: silence
  const row = strongest(ROWS.map((f) => goertzelPower(block, f)));
  const column = strongest(COLUMNS.map((f) => goertzelPower(block, f)));
  // Each tone must dominate its group, and the two must carry most of the block's energy.
  const toneEnergy = (2 * (row.power + column.power)) / block.length;
  if (row.power < 4 * row.rest || column.power < 4 * column.rest) return undefined;
  if (toneEnergy < 0.5 * energy) return undefined;
  // Twist: the two tones within 8 dB of each other, as telephone exchanges require.
  const [weak, strong] = [Math.min(row.power, column.power), Math.max(row.power, column.power)];
  if (weak < strong / 6.3) return undefined;
  return KEYPAD[row.index]![column.index];
}

/**
 * The keys pressed in μ-law `audio`, in order.
 *
 * @example
 * ```ts
 * decodeDtmf(receivedAgentAudio); // "2#"
 * ```
 */
export function decodeDtmf(audio: Uint8Array): string {
  const pcm = decodeMulaw(audio);
  let keys = "";
  let candidate: string | undefined;
  let run = 0;
  let latched = false;
  for (let start = 0; start + BLOCK <= pcm.length; start += BLOCK) {
    const key = keyInBlock(Float64Array.from(pcm.subarray(start, start + BLOCK)));
    if (key === undefined || key !== candidate) {
      if (key === undefined) latched = false;
      candidate = key;
      run = key === undefined ? 0 : 1;
      continue;
    }
    run++;
    if (run >= 2 && !latched) {
      keys += key;
      latched = true;
    }
  }
  return keys;
}
