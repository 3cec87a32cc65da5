/**
 * Several instances on Postgres: the live feed of an ended call whose analysis is still pending, read
 * from the instance that did not relay the call, sends `call.analyzed` once the analysis is stored
 * (whichever instance ran it), then ends. The analysis is held back by a 429 with `retry-after-ms`.
 */

import assert from "node:assert/strict";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import { withPostgresPair } from "../../testing/postgres_pair.ts";
import { readFrames } from "../../testing/sse_frames.ts";
import { within } from "../../testing/within.ts";
import { API_TOKEN, AUTH, runCall, withRig } from "./_analysis_rig.ts";

Deno.test({
  name:
    "on Postgres, another instance's feed of an ended call sends call.analyzed once the analysis is stored",
  ignore: !postgresAvailable(),
  async fn() {
    const server = await startThrowawayPostgres();
    try {
      const answer = { interested: true, meetingDay: "Tuesday", objections: [] };
      await withRig([{ status: 429, retryAfterMs: 2500 }], answer, async (fake, dir) => {
        const env = { DEFAULT_PERSONA: "lead", API_TOKEN, OPENAI_BASE_URL: fake.baseUrl };
        await withPostgresPair(server, { personasDir: dir, env }, async ({ a, b }) => {
          const callSid = await runCall(a);
          // The analysis is queued after call.ended: from its log line the job is in Postgres (held
          // back by the 429), and A's read waits for its queued writes, so the ended record is too.
          await within(
            a.waitForLog(new RegExp(`Analysis queued: CallSid=${callSid}`)),
            "the queued analysis",
            5_000,
          );
          assert.equal((await fetch(`${a.origin}/api/calls/${callSid}`, { headers: AUTH })).status, 200);
          const feed = await fetch(`${b.origin}/api/calls/${callSid}/events`, { headers: AUTH });
          assert.equal(feed.status, 200);
          const frames = await within(Array.fromAsync(readFrames(feed.body!)), "the end of the feed", 15_000);
          assert.deepEqual(frames.map((f) => f.event), ["snapshot", "call.analyzed"]);
          const snapshot = JSON.parse(frames[0]!.data);
          assert.equal(snapshot.endReason, "caller_hung_up");
          assert.ok(["pending", "running"].includes(snapshot.outcome.state), frames[0]!.data);
          const analyzed = JSON.parse(frames[1]!.data);
          assert.equal(analyzed.state, "done");
          assert.deepEqual(analyzed.outcome, answer);
          assert.ok(analyzed.costUsd > 0);
        });
      });
    } finally {
      await server.stop();
    }
  },
});
