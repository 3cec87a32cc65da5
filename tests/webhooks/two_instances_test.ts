/**
 * Two Parley instances on one store each run a delivery worker: every message is sent by exactly one
 * of them (the outbox's leased claim). Here over one SQLite `parley.db`; the Postgres adapter runs the
 * same outbox contract (`tests/store/_contract.ts`).
 */

import assert from "node:assert/strict";
import { startWebhookReceiver } from "../../testing/webhook_receiver.ts";
import { SECRET, startInstance } from "./_call.ts";
import { webhookMessageId } from "../../src/outcomes/webhooks/payloads.ts";

Deno.test("two instances on one store: each message is delivered once", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_webhooks_" });
  const receiver = await startWebhookReceiver(SECRET);
  const alpha = await startInstance(dataDir, receiver.url, { pollMs: 5 }, "alpha");
  const beta = await startInstance(dataDir, receiver.url, { pollMs: 5 }, "beta");
  try {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const id = webhookMessageId("call.analyzed", `CA${String(i).padStart(32, "0")}`);
      ids.push(id);
      // Both instances' workers poll the same outbox while the messages come in.
      await (i % 2 === 0 ? alpha : beta).outbox.enqueue({
        id,
        type: "call.analyzed",
        callSid: null,
        payload: JSON.stringify({ type: "call.analyzed", timestamp: new Date().toISOString(), data: { i } }),
        at: Date.now(),
        expiresAt: Date.now() + 86_400_000,
      });
    }
    await receiver.waitFor((r) => new Set(r.map((w) => w.id)).size === ids.length);
    // Wait until both workers have written every attempt: then no message can be sent again.
    for (const id of ids) {
      await Promise.race([
        alpha.t.waitForLog(new RegExp(`${id} delivered`)),
        beta.t.waitForLog(new RegExp(`${id} delivered`)),
      ]);
    }
    const log = await alpha.outbox.list({ limit: 100 });
    assert.equal(log.filter((d) => d.state === "delivered").length, ids.length);
    assert.equal(receiver.received.length, ids.length, "no message sent twice");
    assert.deepEqual(receiver.rejected, []);
    assert.deepEqual(log.map((d) => d.attempts), ids.map(() => 1));
  } finally {
    await alpha.close();
    await beta.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
