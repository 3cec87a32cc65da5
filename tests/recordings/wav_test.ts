/**
 * The recording's WAV: μ-law, two channels, 8 kHz, the bytes as they came (half of 16-bit PCM), with
 * the header a μ-law WAV needs (`fmt ` with cbSize, `fact`); a header a crash left unpatched is
 * repaired from the file's length, and a recording of an earlier version (16-bit PCM) keeps its format.
 */

import assert from "node:assert/strict";
import { decodeMulawSample } from "../../src/audio/mulaw.ts";
import {
  FRAME_BYTES,
  readWav,
  repairWavHeader,
  SAMPLE_RATE,
  WAV_HEADER_BYTES,
  wavHeader,
} from "../../src/recordings/wav.ts";

/** An earlier version's header: 16-bit PCM, 44 bytes, sizes as a crash left them (0). */
function pcmHeaderOfACrash(): Uint8Array {
  const header = new Uint8Array(44);
  const view = new DataView(header.buffer);
  header.set([..."RIFF"].map((c) => c.charCodeAt(0)), 0);
  header.set([..."WAVEfmt "].map((c) => c.charCodeAt(0)), 8);
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 2, true);
  view.setUint32(24, 8000, true);
  view.setUint32(28, 32000, true);
  view.setUint16(32, 4, true);
  view.setUint16(34, 16, true);
  header.set([..."data"].map((c) => c.charCodeAt(0)), 36);
  return header;
}

Deno.test("a recording's WAV is μ-law, 8 kHz, two channels, read back as the bytes it holds", () => {
  const header = wavHeader(8000);
  const view = new DataView(header.buffer);
  assert.equal(header.length, WAV_HEADER_BYTES);
  assert.equal(view.getUint16(20, true), 7, "WAVE_FORMAT_MULAW");
  assert.equal(view.getUint16(22, true), 2, "channels");
  assert.equal(view.getUint32(24, true), SAMPLE_RATE);
  assert.equal(view.getUint32(28, true), SAMPLE_RATE * FRAME_BYTES, "byte rate: 16 KB a second");
  assert.equal(view.getUint16(34, true), 8, "bits a sample");
  assert.equal(view.getUint32(46, true), 4000, "fact: samples a channel");
  assert.equal(view.getUint32(4, true), WAV_HEADER_BYTES - 8 + 8000, "RIFF size");

  const data = new Uint8Array(8000);
  for (let i = 0; i < data.length; i += 2) [data[i], data[i + 1]] = [0x20, 0xff];
  const wav = readWav(new Uint8Array([...header, ...data]));
  assert.equal(wav.sampleRate, 8000);
  const [left, right] = wav.channels as [Int16Array, Int16Array];
  assert.equal(left.length, 4000, "half a second");
  assert.ok(left.every((s) => s === decodeMulawSample(0x20)));
  assert.ok(right.every((s) => s === 0), "0xff is μ-law silence");
});

Deno.test("repair: an unpatched μ-law header gets its sizes, a torn last frame is cut, a lost header is written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_wav_" });
  try {
    const path = `${dir}/CAcrash.wav`;
    await Deno.writeFile(path, new Uint8Array([...wavHeader(0), ...new Uint8Array(16_001).fill(0x30)]));
    assert.equal(await repairWavHeader(path), 1000);
    const bytes = await Deno.readFile(path);
    assert.equal(bytes.length, WAV_HEADER_BYTES + 16_000, "the torn frame cut off");
    assert.deepEqual(bytes.subarray(0, WAV_HEADER_BYTES), wavHeader(16_000));

    const lost = `${dir}/CAlost.wav`;
    await Deno.writeFile(lost, new Uint8Array(0));
    assert.equal(await repairWavHeader(lost), 0);
    assert.deepEqual(await Deno.readFile(lost), wavHeader(0));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("repair: an earlier version's 16-bit PCM recording keeps its format and samples", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_wav_" });
  try {
    const path = `${dir}/CAold.wav`;
    const samples = new Int16Array(2 * 8000).fill(1234); // 1 s, both channels
    await Deno.writeFile(
      path,
      new Uint8Array([...pcmHeaderOfACrash(), ...new Uint8Array(samples.buffer), 7]),
    );
    assert.equal(await repairWavHeader(path), 1000);
    const bytes = await Deno.readFile(path);
    const view = new DataView(bytes.buffer);
    assert.equal(bytes.length, 44 + 32_000, "the torn frame cut off");
    assert.equal(view.getUint16(20, true), 1, "still PCM");
    assert.equal(view.getUint32(40, true), 32_000, "data size");
    assert.equal(view.getUint32(4, true), 36 + 32_000, "RIFF size");
    const [left, right] = readWav(bytes).channels as [Int16Array, Int16Array];
    assert.equal(left.length, 8000);
    assert.ok(left.every((s) => s === 1234) && right.every((s) => s === 1234));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readWav names what is not a recording", () => {
  assert.throws(
    () => readWav(new TextEncoder().encode("ID3 not a wav")),
    /not a WAV file \(13 bytes, starts "ID3 "\)/,
  );
  const float = wavHeader(0);
  new DataView(float.buffer).setUint16(20, 3, true);
  assert.throws(() => readWav(float), /a WAV of format 3 with 8-bit samples, not one Parley wrote/);
});
