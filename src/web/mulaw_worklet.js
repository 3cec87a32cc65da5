/// <reference path="./audio_worklet.d.ts" />
/**
 * The softphone's audio, in an AudioWorklet running at 8 kHz (the AudioContext's rate):
 * - microphone → G.711 μ-law, 160-byte (20 ms) frames posted to the page;
 * - the agent's μ-law → speaker, from a queue; a mark is posted back when playback reaches it;
 *   `clear` drops the queued audio and posts every pending mark at once, as Twilio does.
 *
 * The codec is a copy of `src/audio/mulaw.ts` (Safari runs no `import` in an AudioWorklet);
 * tests/web/mulaw_worklet_test.ts proves the two agree.
 */

const FRAME_BYTES = 160;
const BIAS = 0x84;
const CLIP = 32635;

/** @param {number} sample a float in [-1, 1] @returns {number} one μ-law byte */
function encode(sample) {
  // The 16-bit sample the float stands for (× 32768, as `decode` divides), rounded as the server's.
  let pcm = Math.max(-32768, Math.min(32767, Math.round(sample * 32768)));
  const sign = pcm < 0 ? 0x80 : 0;
  pcm = Math.min(Math.abs(pcm), CLIP) + BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (pcm & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (pcm >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** @param {number} byte @returns {number} a float in [-1, 1] */
function decode(byte) {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + BIAS) << exponent) - BIAS;
  return ((u & 0x80) !== 0 ? -magnitude : magnitude) / 32768;
}

class MulawProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    /** @type {Uint8Array} */
    this.frame = new Uint8Array(FRAME_BYTES);
    this.filled = 0;
    /** @type {({ audio: Float32Array, at: number } | { mark: string })[]} */
    this.queue = [];
    this.queuedSamples = 0;
    this.reportedSamples = -1;
    this.port.onmessage = (/** @type {MessageEvent} */ event) => this.onCommand(event.data);
  }

  /** @param {{ type: string, bytes?: Uint8Array, name?: string }} command */
  onCommand(command) {
    if (command.type === "play" && command.bytes !== undefined) {
      const audio = Float32Array.from(command.bytes, (byte) => decode(byte));
      this.queue.push({ audio, at: 0 });
      this.queuedSamples += audio.length;
    } else if (command.type === "mark" && command.name !== undefined) {
      this.queue.push({ mark: command.name });
    } else if (command.type === "clear") {
      const marks = this.queue.flatMap((item) => "mark" in item ? [item.mark] : []);
      this.queue = [];
      this.queuedSamples = 0;
      for (const name of marks) this.port.postMessage({ type: "mark", name, flushed: true });
    }
    this.report();
  }

  report() {
    if (this.queuedSamples === this.reportedSamples) return;
    this.reportedSamples = this.queuedSamples;
    this.port.postMessage({ type: "queued", ms: this.queuedSamples / 8 });
  }

  /** @param {Float32Array[][]} inputs @param {Float32Array[][]} outputs */
  process(inputs, outputs) {
    const input = inputs[0]?.[0];
    if (input !== undefined) {
      for (const sample of input) {
        this.frame[this.filled++] = encode(sample);
        if (this.filled === FRAME_BYTES) {
          this.port.postMessage({ type: "frame", bytes: this.frame }, [this.frame.buffer]);
          this.frame = new Uint8Array(FRAME_BYTES);
          this.filled = 0;
        }
      }
    }
    const output = outputs[0]?.[0];
    if (output !== undefined) {
      let written = 0;
      for (let head = this.queue[0]; written < output.length && head !== undefined; head = this.queue[0]) {
        if ("mark" in head) {
          this.port.postMessage({ type: "mark", name: head.mark, flushed: false });
          this.queue.shift();
          continue;
        }
        const take = Math.min(output.length - written, head.audio.length - head.at);
        output.set(head.audio.subarray(head.at, head.at + take), written);
        head.at += take;
        written += take;
        this.queuedSamples -= take;
        if (head.at === head.audio.length) this.queue.shift();
      }
      output.fill(0, written);
      // A mark right after the last audio is reached now, not on the next quantum.
      for (let head = this.queue[0]; head !== undefined && "mark" in head; head = this.queue[0]) {
        this.port.postMessage({ type: "mark", name: head.mark, flushed: false });
        this.queue.shift();
      }
      if (currentFrame % 1024 === 0 || this.queuedSamples === 0) this.report();
    }
    return true;
  }
}

registerProcessor("mulaw", MulawProcessor);
