/**
 * What the dead-air tests share (dead_air_test.ts, dead_air_waiting_audio_test.ts): a scenario that
 * checks `maxDeadAirSeconds` at 1 s and 3 s, the length of the silence the tests make, a stall of the
 * whole process, and the caller's last turn.
 */

import type { LoadedScenario } from "../../src/rehearsal/types.ts";
import { type FakeRealtimeSession, toneBytes } from "../../testing/fake_realtime.ts";

/** How long the tests keep the line silent, or the process stalled. */
export const SILENCE_MS = 1500;

/** A scenario whose checks are `maxDeadAirSeconds` 1 (fails on a 1.5 s silence) and 3 (passes). */
export const loaded: LoadedScenario = {
  id: "pause",
  file: "scenarios/pause.ts",
  scenario: {
    persona: "tester",
    caller: { instructions: "You are Sam; you think a while before you answer." },
    expect: [
      { name: "no long silence", maxDeadAirSeconds: 1 },
      { name: "silence under 3 s", maxDeadAirSeconds: 3 },
    ],
  },
};

/**
 * Blocks this process's event loop (the phone, Parley and the fakes alike) for `ms`, as a stall does:
 * `Atomics.wait` sleeps the thread, so no timer or socket runs, and no CPU is burnt meanwhile.
 */
export function stallEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The caller answers with 200 ms of speech and hangs up. */
export async function callerAnswersAndHangsUp(caller: FakeRealtimeSession): Promise<void> {
  await caller.streamResponse({
    responseId: "resp_c1",
    itemId: "item_c1",
    audio: toneBytes(200, 0x22),
    functionCalls: [{ callId: "call_hang", name: "hang_up", arguments: "{}" }],
  });
}
