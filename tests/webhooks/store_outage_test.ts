/**
 * A call that starts and ends while the store cannot be written (another process holds the write lock
 * on `parley.db`, as a full disk or a Postgres restart would refuse writes too): its `call.started`
 * and `call.ended` webhooks, and a recording's `recording.ready`, are not lost. They wait in memory,
 * the wait is logged once, and they are sent (built from the complete record) once the store takes
 * writes again.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { callDatabasePath } from "../../src/store/sqlite/call_store.ts";
import { startWebhookReceiver } from "../../testing/webhook_receiver.ts";
import { within } from "../../testing/within.ts";
import { join } from "node:path";
import { type RecordingInfo, RecordingsDir } from "../../src/recordings/recordings_dir.ts";
import { openSqliteWebhookOutbox } from "../../src/store/sqlite/webhook_outbox.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { recordedCall } from "../recordings/_recording_call.ts";
import { API_TOKEN, SECRET, shortCall, startInstance } from "./_call.ts";

const RECORDING_PERSONAS = new URL("../testdata/recording_personas", import.meta.url).pathname;

Deno.test("a call while parley.db is locked still gets its call.started and call.ended webhooks once the lock is released", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_webhooks_outage_" });
  const receiver = await startWebhookReceiver(SECRET);
  const app = await startInstance(dataDir, receiver.url, { firstRetryMs: 50 });
  const locker = new DatabaseSync(callDatabasePath(dataDir));
  try {
    locker.exec("BEGIN EXCLUSIVE");
    const callSid = await shortCall(app.t);
    assert.ok(app.calls.health().failing, "the store could not write the call");
    await within(app.t.waitForLog(/Webhooks: cannot enqueue/), "the wait is logged");

    locker.exec("COMMIT");
    await within(
      receiver.waitFor((r) => r.filter((w) => w.answered === 200).length === 2),
      "both webhooks once the lock is released",
      15_000,
    );
    const ended = receiver.received.find((w) => w.body.type === "call.ended")!;
    assert.equal(ended.id, `msg_call_ended_${callSid}`);
    assert.equal(ended.body.data.endReason, "caller_hung_up", "built from the complete record");
    assert.equal(receiver.received.find((w) => w.body.type === "call.started")!.body.data.callSid, callSid);
    await within(app.t.waitForLog(/Webhooks: enqueued again/), "the recovery is logged");
    assert.equal(app.t.logs.filter((l) => /Webhooks: cannot enqueue/.test(l.line)).length, 1, "logged once");
    // The worker polled the locked outbox every 25 ms all along: one line, not one a poll.
    const outboxLines = app.t.logs.filter((l) => /could not read the outbox/.test(l.line)).length;
    assert.ok(outboxLines <= 1, `${outboxLines} lines saying the outbox could not be read`);
    assert.deepEqual(receiver.rejected, []);
  } finally {
    if (locker.isTransaction) locker.exec("ROLLBACK");
    locker.close();
    await app.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a recording finished while parley.db is locked still gets its recording.ready once the lock is released", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_recording_outage_" });
  const recordings = new RecordingsDir(join(dataDir, "recordings"));
  const receiver = await startWebhookReceiver(SECRET);
  const outbox = openSqliteWebhookOutbox(callDatabasePath(dataDir));
  const t = await startTestParley({
    personasDir: RECORDING_PERSONAS,
    env: { DEFAULT_PERSONA: "recorder", API_TOKEN, WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET },
    outbox,
    webhookTiming: { pollMs: 25 },
    recordings,
  });
  const locker = new DatabaseSync(callDatabasePath(dataDir));
  try {
    // Heard after the announcer (subscribed at startup), which has tried the outbox by then.
    const finished = new Promise<RecordingInfo>((resolve) => recordings.subscribe(resolve));
    locker.exec("BEGIN EXCLUSIVE");
    const callSid = await recordedCall(t);
    assert.equal((await within(finished, "the recording finished")).state, "complete");
    await within(t.waitForLog(/Webhooks: cannot enqueue recording\.ready/), "the wait is logged");
    locker.exec("COMMIT");
    await within(
      receiver.waitFor((r) => r.some((w) => w.body.type === "recording.ready" && w.answered === 200)),
      "recording.ready once the lock is released",
      15_000,
    );
    const ready = receiver.received.find((w) => w.body.type === "recording.ready")!;
    assert.equal(ready.id, `msg_recording_ready_${callSid}`);
    assert.equal(ready.body.data.state, "complete");
  } finally {
    if (locker.isTransaction) locker.exec("ROLLBACK");
    locker.close();
    await t.close();
    outbox.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
