/**
 * The post-call analysis's `call.analyzed` bus event (src/analysis/worker.ts) goes out as a signed
 * `call.analyzed` webhook: done with its outcome, failed with its reason.
 */

import assert from "node:assert/strict";
import { startWebhookReceiver } from "../../testing/webhook_receiver.ts";
import { createLogger } from "../../src/log.ts";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import { startWebhooks } from "../../src/outcomes/webhooks/webhooks.ts";
import { SECRET } from "./_call.ts";

Deno.test("a settled analysis on the bus is sent as a signed call.analyzed webhook", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_analyzed_webhook_" });
  const receiver = await startWebhookReceiver(SECRET);
  const store = openSqliteStore(`${dataDir}/calls.db`, { instance: "alpha" });
  const webhooks = startWebhooks({
    outbox: store.outbox,
    settings: { url: receiver.url, secret: SECRET },
    calls: store.calls,
    instance: "alpha",
    log: createLogger({ sink: () => {} }),
  });
  try {
    const at = Date.UTC(2026, 0, 5, 9);
    webhooks.listener({
      type: "call.analyzed",
      at,
      callSid: "CA0000000000000000000000000000done",
      state: "done",
      outcome: { interested: true },
      error: null,
      costUsd: 0.0012,
    });
    webhooks.listener({
      type: "call.analyzed",
      at,
      callSid: "CA000000000000000000000000000fail",
      state: "failed",
      outcome: null,
      error: "HTTP 500 (after 8 tries)",
      costUsd: null,
    });
    await receiver.waitFor((r) => r.length >= 2);
    assert.deepEqual(receiver.rejected, [], "every signature verified");
    const byCall = new Map(receiver.received.map((w) => [w.body.data.callSid, w]));
    const done = byCall.get("CA0000000000000000000000000000done")!;
    assert.equal(done.body.type, "call.analyzed");
    assert.equal(done.id, "msg_call_analyzed_CA0000000000000000000000000000done");
    assert.equal(done.body.timestamp, new Date(at).toISOString());
    assert.deepEqual(done.body.data, {
      callSid: "CA0000000000000000000000000000done",
      state: "done",
      outcome: { interested: true },
      error: null,
      costUsd: 0.0012,
      callCostUsd: null, // no record of this call in the store
    });
    const failed = byCall.get("CA000000000000000000000000000fail")!;
    assert.equal(failed.body.data.state, "failed");
    assert.equal(failed.body.data.error, "HTTP 500 (after 8 tries)");
    assert.equal(failed.body.data.outcome, null);
  } finally {
    await webhooks.close();
    store.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
