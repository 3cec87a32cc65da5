import assert from "node:assert/strict";
import { decodeMulaw, decodeMulawSample, encodeMulaw, encodeMulawSample } from "../../src/audio/mulaw.ts";

Deno.test("μ-law encodes silence as 0xff and round-trips within the codec's step size", () => {
  assert.equal(encodeMulawSample(0), 0xff);
  for (let sample = -32_000; sample <= 32_000; sample += 97) {
    const back = decodeMulawSample(encodeMulawSample(sample));
    // G.711 μ-law: the quantisation step doubles per segment; at most 1/16 of the value plus the bias.
    assert.ok(Math.abs(back - sample) <= Math.abs(sample) / 16 + 8, `${sample} came back as ${back}`);
  }
});

Deno.test("μ-law clips out-of-range samples instead of wrapping around", () => {
  assert.ok(decodeMulawSample(encodeMulawSample(1e9)) > 30_000);
  assert.ok(decodeMulawSample(encodeMulawSample(-1e9)) < -30_000);
});

Deno.test("μ-law decodes every byte to the value the G.711 table gives", () => {
  // Spot values of the standard decoding table.
  assert.equal(decodeMulawSample(0x00), -32_124);
  assert.equal(decodeMulawSample(0x80), 32_124);
  assert.equal(decodeMulawSample(0x7f), 0);
  assert.equal(decodeMulawSample(0xff), 0);
  assert.deepEqual([...decodeMulaw(encodeMulaw([0, 1000, -1000]))], [0, 988, -988]);
});
