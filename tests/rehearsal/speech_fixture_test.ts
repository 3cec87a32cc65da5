/**
 * The simulated caller's speech (an espeak-ng fixture, μ-law 8 kHz) reaches the agent's session
 * byte for byte: `audio/pcmu` both ways through the virtual phone and the relay, nothing transcoded,
 * in 20 ms frames.
 */

import assert from "node:assert/strict";
import { withRehearsal } from "../../testing/rehearsal_rig.ts";
import { runOnce } from "../../src/rehearsal/runner.ts";
import { bothSessions } from "../../testing/rehearsal_script.ts";
import { fromBase64 } from "../../testing/fake_realtime.ts";

/** "I would like to leave a message." as raw μ-law 8 kHz, made with espeak-ng and sox. */
async function speech(dir: string): Promise<Uint8Array> {
  const run = async (command: string, args: string[]) => {
    const { code, stderr } = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" })
      .output();
    if (code !== 0) throw new Error(`${command} failed: ${new TextDecoder().decode(stderr)}`);
  };
  await run("espeak-ng", ["-w", `${dir}/speech.wav`, "I would like to leave a message."]);
  await run("sox", [
    `${dir}/speech.wav`,
    "-r",
    "8000",
    "-c",
    "1",
    "-e",
    "u-law",
    "-t",
    "raw",
    `${dir}/speech.ulaw`,
  ]);
  return await Deno.readFile(`${dir}/speech.ulaw`);
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

Deno.test("the caller's speech reaches the agent's session byte for byte, in 20 ms frames", async () => {
  await withRehearsal({ prefix: "parley_speech_" }, async ({ dir, parley, setup }) => {
    const words = await speech(dir);
    assert.ok(words.length > 8000, "at least a second of speech");
    const running = runOnce(
      {
        id: "speech",
        file: "speech.ts",
        scenario: {
          persona: "tester",
          caller: { instructions: "Leave a message." },
          expect: [{ name: "ends", endReason: "caller_hung_up" }],
        },
      },
      1,
      setup,
    );
    const { caller, agent } = await bothSessions(parley.upstream);
    const started = performance.now();
    await caller.streamResponse({
      responseId: "c1",
      itemId: "ci1",
      audio: words,
      functionCalls: [{ callId: "bye", name: "hang_up", arguments: "{}" }],
    });
    const result = await running;
    const elapsed = performance.now() - started;
    assert.equal(result.passed, true, JSON.stringify(result.checks));

    const frames = agent.eventsOf("input_audio_buffer.append").map((e) => fromBase64(e.audio));
    assert.ok(frames.every((f) => f.length === 160), "every frame is 20 ms");
    const line = new Uint8Array(frames.length * 160);
    frames.forEach((f, i) => line.set(f, i * 160));
    assert.notEqual(indexOfBytes(line, words), -1, "the speech is on the line unchanged");
    // Sent at the pace of speech, not as fast as the caller's session produced it.
    assert.ok(
      elapsed >= (words.length / 8) * 0.9,
      `${words.length / 8} ms of speech went out in ${Math.round(elapsed)} ms`,
    );
  });
});
