/**
 * The softphone's AudioWorklet keeps its own copy of the μ-law codec (Safari runs no `import` in an
 * AudioWorklet). These tests load the real `src/web/mulaw_worklet.js` in a stand-in for the
 * AudioWorkletGlobalScope and drive it as the page does (port messages, `process()` calls), to prove
 * its codec is the server's (`src/audio/mulaw.ts`) on every byte and every 16-bit sample.
 */
import assert from "node:assert/strict";
import { decodeMulawSample, encodeMulawSample } from "../../src/audio/mulaw.ts";

/** One render quantum of Web Audio, in samples. */
const QUANTUM = 128;

interface WorkletMessage {
  type: string;
  bytes?: Uint8Array;
}

interface Processor {
  port: { onmessage: ((event: { data: unknown }) => void) | null };
  process(inputs: Float32Array[][], outputs: Float32Array[][]): boolean;
}

/** The worklet's processor class, registered when its module first loads. */
let processorClass: (new () => Processor) | undefined;
/** Where the running test's processor posts its messages to the page. */
let posted: WorkletMessage[] = [];

/** The scope's base class: its port hands what the processor posts to the running test. */
class AudioWorkletProcessor {
  port = { onmessage: null, postMessage: (message: WorkletMessage) => posted.push(message) };
}

/**
 * Builds one processor of the real worklet, with the scope's globals set only while `use` runs.
 * @returns what `use` returns
 */
async function withWorklet<T>(use: (processor: Processor, posted: WorkletMessage[]) => T): Promise<T> {
  const scope = globalThis as Record<string, unknown>;
  posted = [];
  scope.currentFrame = 0;
  scope.AudioWorkletProcessor = AudioWorkletProcessor;
  scope.registerProcessor = (name: string, processor: new () => Processor) => {
    assert.equal(name, "mulaw");
    processorClass = processor;
  };
  try {
    await import("../../src/web/mulaw_worklet.js");
    assert.ok(processorClass !== undefined, "mulaw_worklet.js registered no processor");
    return use(new processorClass(), posted);
  } finally {
    delete scope.currentFrame;
    delete scope.AudioWorkletProcessor;
    delete scope.registerProcessor;
  }
}

Deno.test("the worklet decodes each of the 256 μ-law bytes to the server's sample", async () => {
  const played = await withWorklet((processor) => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    processor.port.onmessage?.({ data: { type: "play", bytes } });
    const speaker = new Float32Array(256);
    processor.process([[]], [[speaker]]);
    return speaker;
  });
  const wrong = [...played.keys()].filter((byte) => played[byte]! * 32_768 !== decodeMulawSample(byte));
  assert.deepEqual(
    wrong.map((byte) => `0x${byte.toString(16)}: ${played[byte]! * 32_768} ≠ ${decodeMulawSample(byte)}`),
    [],
  );
});

Deno.test("the worklet encodes every 16-bit sample (as a float, sample / 32768) as the server does", async () => {
  const samples = Array.from({ length: 65_536 }, (_, i) => i - 32_768);
  const sent = await withWorklet((processor, posted) => {
    // 65,536 samples and 64 of silence make 410 whole 160-byte frames, fed a quantum at a time.
    const microphone = new Float32Array(samples.length + 64);
    microphone.set(samples.map((sample) => sample / 32_768));
    for (let at = 0; at < microphone.length; at += QUANTUM) {
      processor.process([[microphone.subarray(at, at + QUANTUM)]], [[new Float32Array(QUANTUM)]]);
    }
    return posted.filter((m) => m.type === "frame").flatMap((m) => [...m.bytes!]);
  });
  assert.equal(sent.length, samples.length + 64);
  const wrong = samples.filter((sample, i) => sent[i] !== encodeMulawSample(sample));
  assert.deepEqual(
    wrong.slice(0, 5).map((sample) =>
      `${sample}: 0x${sent[sample + 32_768]!.toString(16)} ≠ 0x${encodeMulawSample(sample).toString(16)}`
    ),
    [],
    `${wrong.length} of 65536 samples encode differently`,
  );
});
