import assert from "node:assert/strict";
import { dtmfFrequencies, dtmfTones } from "../../src/twilio/dtmf_tones.ts";
import { decodeDtmf } from "../../testing/dtmf_decoder.ts";
import { decodeMulaw, encodeMulaw } from "../../src/audio/mulaw.ts";

function tones(keys: string, timing = {}): Uint8Array {
  const result = dtmfTones(keys, timing);
  if (!result.ok) throw new Error(result.problem);
  return result.audio;
}

Deno.test("keypad tones decode back to every key of the keypad, in order", () => {
  const all = "123A456B789C*0#D";
  assert.equal(decodeDtmf(tones(all)), all);
});

Deno.test("a repeated key is heard as two presses because of the gap between them", () => {
  assert.equal(decodeDtmf(tones("1100")), "1100");
});

Deno.test("keypad tones take 100 ms on and 60 ms off per key, and w pauses 500 ms", () => {
  assert.equal(tones("5").length, 160 * 8);
  assert.equal(tones("5w5").length, (160 + 500 + 160) * 8);
  assert.equal(decodeDtmf(tones("5w5")), "55");
});

Deno.test("keypad tones survive line noise and a quieter line", () => {
  let seed = 7;
  const noise = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31 - 0.5) * 2_000;
  const noisy = encodeMulaw([...decodeMulaw(tones("908#"))].map((s) => s * 0.3 + noise()));
  assert.equal(decodeDtmf(noisy), "908#");
});

Deno.test("the detector hears nothing in silence or in a single tone", () => {
  assert.equal(decodeDtmf(new Uint8Array(8_000).fill(0xff)), "");
  const single = encodeMulaw(
    Array.from({ length: 8_000 }, (_, i) => 10_000 * Math.sin(2 * Math.PI * 697 * i / 8_000)),
  );
  assert.equal(decodeDtmf(single), "");
});

Deno.test("keys outside the keypad are refused with the character and its position", () => {
  assert.deepEqual(dtmfTones("12x"), {
    ok: false,
    problem: '"x" at position 3 is not a key; use digits 0-9, *, #, A-D or w (pause)',
  });
  assert.equal(dtmfTones("").ok, false);
  assert.deepEqual(dtmfFrequencies("#"), [941, 1477]);
  assert.equal(dtmfFrequencies("12"), undefined);
});
