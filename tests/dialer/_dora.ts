/**
 * What the `do_not_call` tests share: a personas folder with the test personas and `dora`, who calls
 * `do_not_call` when asked not to be called again, and her goodbye with that tool call.
 *
 * @module
 */

import { TEST_PERSONAS_DIR } from "../../testing/parley_harness.ts";
import type { FakeRealtimeSession } from "../../testing/fake_realtime.ts";

const DORA = `export default {
  voice: "marin",
  instructions: "You call leads. If they ask not to be called again, confirm, call do_not_call, say goodbye.",
  doNotCall: true,
};
`;

/** Runs `fn` with a temporary folder of the test personas plus `dora.ts`, removed afterwards. */
export async function withDoraPersonas(prefix: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    for await (const entry of Deno.readDir(TEST_PERSONAS_DIR)) {
      if (entry.isFile) await Deno.copyFile(`${TEST_PERSONAS_DIR}/${entry.name}`, `${dir}/${entry.name}`);
    }
    await Deno.writeTextFile(`${dir}/dora.ts`, DORA);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Dora's goodbye on `session`, with her `do_not_call` call. */
export function goodbyeWithDoNotCall(session: FakeRealtimeSession): Promise<unknown> {
  return session.streamResponse({
    responseId: "resp_bye",
    itemId: "item_bye",
    audio: new Uint8Array(800).fill(0x33),
    transcript: "Understood, we won't call you again. Goodbye!",
    functionCalls: [{ callId: "call_dnc", name: "do_not_call", arguments: "{}" }],
  });
}
