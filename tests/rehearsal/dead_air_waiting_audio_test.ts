/**
 * The `maxDeadAirSeconds` check through the real call path, when the process's event loop stalls (a
 * busy machine, a long collection) while the agent's audio waits to play: the virtual phone falls
 * behind and skips the frames it missed, but the audio fills that time right after, so it is no dead
 * air.
 */

import assert from "node:assert/strict";
import { runOnce } from "../../src/rehearsal/runner.ts";
import { bothSessions, waitForHeard } from "../../testing/rehearsal_script.ts";
import { withRehearsal } from "../../testing/rehearsal_rig.ts";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { callerAnswersAndHangsUp, loaded, SILENCE_MS, stallEventLoop } from "./_dead_air.ts";

Deno.test("a stall while the agent's audio waits to play is no dead air: the audio fills the line right after", async () => {
  await withRehearsal({}, async ({ parley, setup }) => {
    const running = runOnce(loaded, 1, setup);
    const { caller, agent } = await bothSessions(parley.upstream);
    await agent.waitFor("response.create");
    await agent.streamResponse({ responseId: "resp_1", itemId: "item_1", audio: toneBytes(3000, 0x11) });
    await waitForHeard(caller, 0x11, 200);
    stallEventLoop(SILENCE_MS);
    await waitForHeard(caller, 0x11, 3000);
    await callerAnswersAndHangsUp(caller);
    const result = await running;
    assert.deepEqual(result.checks.map((c) => [c.name, c.status]), [
      ["no long silence", "passed"],
      ["silence under 3 s", "passed"],
    ]);
  });
});
