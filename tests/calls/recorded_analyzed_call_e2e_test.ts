/**
 * Issue 20's "Done when", in one call: a persona with `record: true` and an `analysis` schema, over a
 * SQLite store, with webhooks on. The call leaves a two-channel recording (read channel by channel,
 * fetched whole and by byte ranges, through the API and through the signed link), a stored outcome in
 * `GET /api/calls/:sid`, and the signed webhooks `call.started`, `call.ended`, `call.analyzed` and
 * `recording.ready` at a receiver that verifies each with npm:standardwebhooks.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeResponsesServer } from "../../testing/fake_responses.ts";
import { startTestParley, TEST_OPENAI_KEY } from "../../testing/parley_harness.ts";
import { startWebhookReceiver } from "../../testing/webhook_receiver.ts";
import { within } from "../../testing/within.ts";
import { RecordingsDir } from "../../src/recordings/recordings_dir.ts";
import { callDatabasePath } from "../../src/store/sqlite/call_store.ts";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import { API_TOKEN, getJson, SCHEMA } from "../analysis/_analysis_rig.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";
import {
  assertRecordedCall,
  assertServedByRange,
  recordedCall,
  recordedDuration,
  timesTap,
} from "../recordings/_recording_call.ts";
import { SECRET } from "../webhooks/_call.ts";

/** `recorder` (the name the recorded call dials): records, with a disclosure, and declares an outcome. */
const PERSONAS = {
  "recorder.ts": personaSource({
    voice: "coral",
    instructions: "You are Alex. Book a demo.",
    greeting: "Say hello first.",
    record: true,
    recordingDisclosure: "This call is recorded.",
    analysis: { schema: SCHEMA, instructions: "A demo booked means interested." },
  }),
};
const OUTCOME = { interested: true, meetingDay: "Tuesday", objections: ["price"] };
const EVENTS = ["call.started", "call.ended", "call.analyzed", "recording.ready"];

Deno.test("a call with record: true and an analysis schema leaves a seekable two-channel recording, a stored outcome and four signed webhooks", async () => {
  const fake = FakeResponsesServer.start(TEST_OPENAI_KEY, () => OUTCOME, { failures: [] });
  const receiver = await startWebhookReceiver(SECRET);
  const dataDir = await Deno.makeTempDir({ prefix: "parley_done_when_" });
  const store = openSqliteStore(callDatabasePath(dataDir), { instance: "done-when" });
  try {
    await withPersonaDir(PERSONAS, async (personasDir) => {
      const { tap, times } = timesTap();
      const t = await startTestParley({
        personasDir,
        env: {
          DEFAULT_PERSONA: "recorder",
          API_TOKEN,
          OPENAI_BASE_URL: fake.baseUrl,
          WEBHOOK_URL: receiver.url,
          WEBHOOK_SECRET: SECRET,
        },
        shared: store,
        webhookTiming: { pollMs: 25 },
        recordings: new RecordingsDir(join(dataDir, "recordings")),
        tap,
      });
      try {
        const callSid = await recordedCall(t);
        const durationMs = await recordedDuration(t, callSid, API_TOKEN);
        const ofCall = (type: string) =>
          receiver.received.find((w) => w.body.type === type && w.body.data.callSid === callSid);
        await within(
          receiver.waitFor(() => EVENTS.every((type) => ofCall(type) !== undefined)),
          `${EVENTS.join(", ")} at the receiver`,
          20_000,
        );

        // The webhooks: each verified by npm:standardwebhooks at the receiver, with its stable id.
        assert.deepEqual(receiver.rejected, [], "every signature verified with npm:standardwebhooks");
        for (const type of EVENTS) {
          assert.equal(ofCall(type)!.id, `msg_${type.replace(".", "_")}_${callSid}`, type);
        }
        const ended = ofCall("call.ended")!.body.data;
        assert.equal(ended.persona, "recorder");
        assert.equal(ended.durationMs, durationMs, "call.ended carries the record's duration");
        const analyzed = ofCall("call.analyzed")!.body.data;
        assert.equal(analyzed.state, "done");
        assert.deepEqual(analyzed.outcome, OUTCOME);

        // The outcome, stored: in the call's record.
        const record = await getJson(`${t.origin}/api/calls/${callSid}`);
        assert.equal(record.outcome.state, "done");
        assert.deepEqual(record.outcome.result, OUTCOME);
        assert.equal(fake.requests.filter((r) => r.status === 200).length, 1, "one analysis request");
        assert.equal(record.recording.state, "complete");

        // The recording: two channels as heard, its length the record's; served whole and by ranges.
        const whole = await fetch(`${t.origin}/api/calls/${callSid}/recording`, {
          headers: { Authorization: `Bearer ${API_TOKEN}` },
        });
        assert.equal(whole.status, 200);
        const bytes = new Uint8Array(await whole.arrayBuffer());
        assertRecordedCall(bytes, { times: times(), durationMs });
        await assertServedByRange(t.origin, callSid, API_TOKEN, bytes, "complete");

        // recording.ready's signed link seeks too, without the token.
        const link = new URL(String(ofCall("recording.ready")!.body.data.url));
        const seek = await fetch(`${t.origin}${link.pathname}${link.search}`, {
          headers: { Range: "bytes=44-843" },
        });
        assert.equal(seek.status, 206);
        assert.equal(seek.headers.get("content-range"), `bytes 44-843/${bytes.length}`);
        assert.deepEqual(new Uint8Array(await seek.arrayBuffer()), bytes.subarray(44, 844));
      } finally {
        await t.close();
      }
    });
  } finally {
    store.close();
    await receiver.close();
    await fake.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
