/**
 * The recording's file format: a 16-bit PCM WAV, two channels interleaved (left the caller, right the
 * agent), 8 kHz. The header is written first with empty sizes and patched when the call ends; a file a
 * crash left unpatched is repaired by {@linkcode repairWavHeader} from its length.
 *
 * @module
 */

/** Samples per second of both channels. */
export const SAMPLE_RATE = 8000;
/** Channels: 0 the caller, 1 the agent as the caller heard it. */
export const CHANNELS = 2;
/** Bytes of one sample frame (both channels, 16 bits each). */
export const FRAME_BYTES = CHANNELS * 2;
/** Bytes of the canonical header this module writes (RIFF, `fmt `, `data`). */
export const WAV_HEADER_BYTES = 44;

/** The 44-byte header of a PCM WAV whose data holds `dataBytes` bytes. */
export function wavHeader(dataBytes: number): Uint8Array {
  const header = new Uint8Array(WAV_HEADER_BYTES);
  const view = new DataView(header.buffer);
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) header[offset + i] = text.charCodeAt(i);
  };
  ascii(0, "RIFF");
  view.setUint32(4, 36 + dataBytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, CHANNELS, true);
  view.setUint32(24, SAMPLE_RATE, true);
  view.setUint32(28, SAMPLE_RATE * FRAME_BYTES, true); // byte rate
  view.setUint16(32, FRAME_BYTES, true); // block align
  view.setUint16(34, 16, true); // bits per sample
  ascii(36, "data");
  view.setUint32(40, dataBytes, true);
  return header;
}

/** A parsed recording: its channels as linear samples. */
export interface WavChannels {
  sampleRate: number;
  /** One Int16Array per channel. */
  channels: Int16Array[];
}

/**
 * Reads a WAV this module wrote (PCM 16-bit, header of 44 bytes) into its channels.
 * @throws {Error} naming what is not as expected.
 */
export function readWav(bytes: Uint8Array): WavChannels {
  const text = (offset: number) => String.fromCharCode(...bytes.subarray(offset, offset + 4));
  if (bytes.length < WAV_HEADER_BYTES || text(0) !== "RIFF" || text(8) !== "WAVE" || text(36) !== "data") {
    throw new Error(`not a WAV file written by Parley (${bytes.length} bytes, starts "${text(0)}")`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const channels = view.getUint16(22, true);
  const sampleRate = view.getUint32(24, true);
  const dataBytes = Math.min(view.getUint32(40, true), bytes.length - WAV_HEADER_BYTES);
  const frames = Math.floor(dataBytes / (channels * 2));
  const out = Array.from({ length: channels }, () => new Int16Array(frames));
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++) {
      out[c]![i] = view.getInt16(WAV_HEADER_BYTES + (i * channels + c) * 2, true);
    }
  }
  return { sampleRate, channels: out };
}

/**
 * Rewrites the RIFF and data sizes of the WAV at `path` from its length (whole sample frames only; a
 * torn last frame is cut off). Returns the data's duration in ms.
 */
export async function repairWavHeader(path: string): Promise<number> {
  const file = await Deno.open(path, { read: true, write: true });
  try {
    const size = (await file.stat()).size;
    const dataBytes = Math.max(0, size - WAV_HEADER_BYTES);
    const whole = dataBytes - (dataBytes % FRAME_BYTES);
    if (whole !== dataBytes) await file.truncate(WAV_HEADER_BYTES + whole);
    await file.seek(0, Deno.SeekMode.Start);
    await writeAll(file, wavHeader(whole));
    return (whole / FRAME_BYTES / SAMPLE_RATE) * 1000;
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
