/**
 * The recording's file format: a μ-law WAV (G.711, `WAVE_FORMAT_MULAW`), 8 kHz, two channels
 * interleaved (left the caller, right the agent), one byte a sample: the bytes exactly as Twilio and
 * OpenAI sent them, half the size of 16-bit PCM and nothing lost. Chromium plays and seeks it in
 * `<audio>` (the recording page test), and Firefox's WAV decoder takes μ-law too. The header is
 * written first with empty sizes and patched when the call ends; a file a crash left unpatched is
 * repaired by {@linkcode repairWavHeader} from its length (recordings of earlier versions, 16-bit PCM,
 * keep their format).
 *
 * @module
 */

import { decodeMulawSample } from "../audio/mulaw.ts";

/** Samples per second of both channels. */
export const SAMPLE_RATE = 8000;
/** Channels: 0 the caller, 1 the agent as the caller heard it. */
export const CHANNELS = 2;
/** Bytes of one sample frame (both channels, one μ-law byte each). */
export const FRAME_BYTES = CHANNELS;
/** Bytes of the header this module writes: RIFF, `fmt ` (18 bytes), `fact` and `data`. */
export const WAV_HEADER_BYTES = 58;

/** `WAVE_FORMAT_MULAW` (RFC 2361), what this module writes. */
const FORMAT_MULAW = 7;
/** `WAVE_FORMAT_PCM`: recordings of earlier versions, 16-bit. */
const FORMAT_PCM = 1;
type Format = typeof FORMAT_MULAW | typeof FORMAT_PCM;

/**
 * The two encodings a Parley recording may have: the header's size, a sample's bytes and the `fmt `
 * chunk's size (a non-PCM format carries cbSize, and a `fact` chunk follows).
 */
const ENCODINGS: Record<Format, { headerBytes: number; sampleBytes: number; fmtBytes: number }> = {
  [FORMAT_MULAW]: { headerBytes: WAV_HEADER_BYTES, sampleBytes: 1, fmtBytes: 18 },
  [FORMAT_PCM]: { headerBytes: 44, sampleBytes: 2, fmtBytes: 16 },
};

function ascii(header: Uint8Array, offset: number, text: string): void {
  for (let i = 0; i < text.length; i++) header[offset + i] = text.charCodeAt(i);
}

/** The 58-byte header of a μ-law WAV whose data holds `dataBytes` bytes. */
export function wavHeader(dataBytes: number): Uint8Array {
  return headerOf(FORMAT_MULAW, dataBytes);
}

/** The header of a WAV in `format` whose data holds `dataBytes` bytes. */
function headerOf(format: Format, dataBytes: number): Uint8Array {
  const { headerBytes, sampleBytes, fmtBytes } = ENCODINGS[format];
  const frameBytes = CHANNELS * sampleBytes;
  const header = new Uint8Array(headerBytes);
  const view = new DataView(header.buffer);
  ascii(header, 0, "RIFF");
  view.setUint32(4, headerBytes - 8 + dataBytes, true);
  ascii(header, 8, "WAVE");
  ascii(header, 12, "fmt ");
  view.setUint32(16, fmtBytes, true);
  view.setUint16(20, format, true);
  view.setUint16(22, CHANNELS, true);
  view.setUint32(24, SAMPLE_RATE, true);
  view.setUint32(28, SAMPLE_RATE * frameBytes, true); // byte rate
  view.setUint16(32, frameBytes, true); // block align
  view.setUint16(34, 8 * sampleBytes, true); // bits per sample
  let at = 20 + fmtBytes; // cbSize, when there, is 0: no extension
  if (format !== FORMAT_PCM) {
    ascii(header, at, "fact"); // a non-PCM format's sample count
    view.setUint32(at + 4, 4, true);
    view.setUint32(at + 8, Math.floor(dataBytes / frameBytes), true);
    at += 12;
  }
  ascii(header, at, "data");
  view.setUint32(at + 4, dataBytes, true);
  return header;
}

/** How a WAV file Parley wrote is laid out: where its data starts and how it is encoded. */
interface WavLayout {
  format: Format;
  channels: number;
  sampleRate: number;
  /** Offset of the data. */
  dataAt: number;
  /** The data's size as the header says (0 in a header a crash left unpatched). */
  dataBytes: number;
}

/** The layout of the WAV that starts with `bytes`, or why it is not one Parley wrote. */
function layoutOf(bytes: Uint8Array): WavLayout | string {
  const text = (offset: number) => String.fromCharCode(...bytes.subarray(offset, offset + 4));
  if (bytes.length < 12 || text(0) !== "RIFF" || text(8) !== "WAVE") {
    return `not a WAV file (${bytes.length} bytes, starts "${text(0)}")`;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: Omit<WavLayout, "dataAt" | "dataBytes"> | undefined;
  for (let at = 12; at + 8 <= bytes.length;) {
    const id = text(at);
    const size = view.getUint32(at + 4, true);
    if (id === "fmt " && at + 24 <= bytes.length) {
      const format = view.getUint16(at + 8, true) as Format;
      const bits = view.getUint16(at + 22, true);
      if (bits !== 8 * (ENCODINGS[format]?.sampleBytes ?? 0)) {
        return `a WAV of format ${format} with ${bits}-bit samples, not one Parley wrote`;
      }
      fmt = { format, channels: view.getUint16(at + 10, true), sampleRate: view.getUint32(at + 12, true) };
    }
    if (id === "data") {
      if (fmt === undefined) return "a WAV file with no fmt chunk before its data";
      return { ...fmt, dataAt: at + 8, dataBytes: size };
    }
    at += 8 + size + (size % 2);
  }
  return "a WAV file with no data chunk";
}

/** A parsed recording: its channels as linear samples. */
export interface WavChannels {
  sampleRate: number;
  /** One Int16Array per channel. */
  channels: Int16Array[];
}

/**
 * Reads a WAV Parley wrote (μ-law, or an earlier version's 16-bit PCM) into its channels, as linear
 * samples.
 * @throws {Error} naming what is not as expected.
 */
export function readWav(bytes: Uint8Array): WavChannels {
  const layout = layoutOf(bytes);
  if (typeof layout === "string") throw new Error(layout);
  const { channels, sampleRate, dataAt, format } = layout;
  const { sampleBytes } = ENCODINGS[format];
  const dataBytes = Math.min(layout.dataBytes, bytes.length - dataAt);
  const frames = Math.floor(dataBytes / (channels * sampleBytes));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = Array.from({ length: channels }, () => new Int16Array(frames));
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++) {
      const at = dataAt + (i * channels + c) * sampleBytes;
      out[c]![i] = format === FORMAT_MULAW ? decodeMulawSample(bytes[at]!) : view.getInt16(at, true);
    }
  }
  return { sampleRate, channels: out };
}

/**
 * Rewrites the sizes in the header of the WAV at `path` from its length (whole sample frames only; a
 * torn last frame is cut off). A file whose header never made it to disk gets a μ-law one; an earlier
 * version's PCM recording keeps its format. Returns the data's duration in ms.
 */
export async function repairWavHeader(path: string): Promise<number> {
  const file = await Deno.open(path, { read: true, write: true });
  try {
    const size = (await file.stat()).size;
    const start = new Uint8Array(Math.min(size, 256));
    let read = 0;
    while (read < start.length) {
      const n = await file.read(start.subarray(read));
      if (n === null) break;
      read += n;
    }
    const layout = layoutOf(start.subarray(0, read));
    const format = typeof layout === "string" ? FORMAT_MULAW : layout.format;
    const { headerBytes, sampleBytes } = ENCODINGS[format];
    const frameBytes = CHANNELS * sampleBytes;
    const dataBytes = Math.max(0, size - headerBytes);
    const whole = dataBytes - (dataBytes % frameBytes);
    if (whole !== dataBytes) await file.truncate(headerBytes + whole);
    await file.seek(0, Deno.SeekMode.Start);
    await writeAll(file, headerOf(format, whole));
    return (whole / frameBytes / SAMPLE_RATE) * 1000;
  } finally {
    file.close();
  }
}

/** Writes every byte of `bytes` to `file` at its position. */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await file.write(bytes.subarray(done));
}

/** Writes every byte of `bytes` to `file` at its position, synchronously. */
export function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
}
