/**
 * Two Parley instances on one store each run a delivery worker: every message is sent by exactly one
 * of them (the outbox's leased claim). Over one SQLite `parley.db`, and over one Postgres (its claims
 * skip the rows another claim has locked); both adapters also run the outbox contract
 * (`tests/store/_contract.ts`).
 */

import assert from "node:assert/strict";
import { startWebhookReceiver } from "../../testing/webhook_receiver.ts";
import { API_TOKEN, SECRET, startInstance } from "./_call.ts";
import { webhookMessageId } from "../../src/outcomes/webhooks/payloads.ts";
import type { WebhookOutbox } from "../../src/store/webhook_outbox.ts";
import type { TestParley } from "../../testing/parley_harness.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { openPostgresStore } from "../../src/store/postgres/store.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";

Deno.test("two instances on one store: each message is delivered once", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_webhooks_" });
  const receiver = await startWebhookReceiver(SECRET);
  const alpha = await startInstance(dataDir, receiver.url, { pollMs: 5 }, "alpha");
  const beta = await startInstance(dataDir, receiver.url, { pollMs: 5 }, "beta");
  try {
    await deliverFortyOnce(receiver, alpha, beta);
  } finally {
    await alpha.close();
    await beta.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

/** Enqueues 40 messages, alternating instances, and checks each is delivered exactly once. */
async function deliverFortyOnce(
  receiver: Awaited<ReturnType<typeof startWebhookReceiver>>,
  alpha: { t: TestParley; outbox: WebhookOutbox },
  beta: { t: TestParley; outbox: WebhookOutbox },
): Promise<void> {
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
  const senders = new Set(log.flatMap((d) => d.attemptLog.map((a) => a.instance)));
  assert.ok([...senders].every((s) => s === "alpha" || s === "beta"), [...senders].join());
}

Deno.test({
  name: "two instances on Postgres: each message delivered once",
  ignore: !postgresAvailable(),
  async fn() {
    const server = await startThrowawayPostgres();
    const receiver = await startWebhookReceiver(SECRET);
    const url = await server.createDatabase();
    const stores = await Promise.all(
      ["alpha", "beta"].map((instance) => openPostgresStore(url, { instance, maxConnections: 4 })),
    );
    const parleys: TestParley[] = [];
    try {
      for (const store of stores) {
        parleys.push(
          await startTestParley({
            env: {
              API_TOKEN,
              WEBHOOK_URL: receiver.url,
              WEBHOOK_SECRET: SECRET,
              INSTANCE_ID: store.instance,
            },
            shared: store,
            webhookTiming: { pollMs: 5 },
          }),
        );
      }
      await deliverFortyOnce(
        receiver,
        { t: parleys[0]!, outbox: stores[0]!.outbox },
        { t: parleys[1]!, outbox: stores[1]!.outbox },
      );
    } finally {
      for (const parley of parleys) await parley.close();
      for (const store of stores) store.close();
      await Promise.all(stores.map((store) => store.closed));
      await receiver.close();
      await server.stop();
    }
  },
});
