/**
 * What the frame fuzz found, each pinned by a test of its own: a `stop` naming no stream Parley can
 * match ended the call.
 */

import assert from "node:assert/strict";
import { toBase64, toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";

const TESTDATA_PERSONAS = new URL("../testdata/personas/", import.meta.url).pathname;

Deno.test("a stop whose streamSid is not a string is ignored as malformed: the call goes on", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: { DEFAULT_PERSONA: "tester" } });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("session.update");
    for (const streamSid of [42, null, { sid: call.streamSid }, [call.streamSid]]) {
      call.sendJson({ event: "stop", sequenceNumber: "9", streamSid, stop: { callSid: call.callSid } });
    }
    const after = toneBytes(20, 9);
    call.sendMedia(after);
    await within(
      session.waitFor("input_audio_buffer.append", (e) => e.audio === toBase64(after)),
      "the caller frame sent after the stops",
    );
    await t.waitForLog(
      /Ignored a malformed frame from Twilio on .*: stop frame whose streamSid is not a string/,
    );
    assert.equal(t.parley.activeCalls(), 1, "the call did not end");
    assert.equal(t.events.filter((e) => e.type === "call.ended").length, 0);

    call.stop(); // its own stop still ends it
    await call.closed;
    assert.equal((await t.waitForEvent("call.ended")).reason, "caller_hung_up");
  } finally {
    await t.close();
  }
});
