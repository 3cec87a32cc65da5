/**
 * Redeliver while the message is being sent: a receiver holds the `call.ended` POST unanswered (as a
 * hung receiver does until the worker's timeout), and `POST …/redeliver` of that message meanwhile
 * answers 409 and sends nothing: one POST of that `webhook-id` is in flight at a time, and the held
 * attempt's result is the one recorded. Once it has ended, a redeliver sends the message again.
 */

import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { AUTH, SECRET, shortCall, startInstance } from "./_call.ts";
import { within } from "../../testing/within.ts";
import type { WebhookDeliveryList } from "../../src/api/types.ts";

/**
 * A receiver that verifies each request and holds those of type `held` unanswered until `release()`
 * (the test's timeout is longer than it holds them); it counts each `webhook-id`'s POSTs and how many
 * were in flight at once.
 */
function holdingReceiver(held: string) {
  const webhook = new Webhook(SECRET);
  const posts = new Map<string, number>();
  const inFlight = new Map<string, number>();
  const mostInFlight = new Map<string, number>();
  const waiters: { predicate: () => boolean; resolve: () => void }[] = [];
  let released = Promise.withResolvers<void>();
  let holding = true;
  const changed = () => {
    for (const w of waiters.filter((w) => w.predicate())) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const body = await request.text();
    const event = webhook.verify(body, Object.fromEntries(request.headers)) as { type: string };
    const id = request.headers.get("webhook-id")!;
    posts.set(id, (posts.get(id) ?? 0) + 1);
    inFlight.set(id, (inFlight.get(id) ?? 0) + 1);
    mostInFlight.set(id, Math.max(mostInFlight.get(id) ?? 0, inFlight.get(id)!));
    changed();
    try {
      if (event.type === held && holding) await released.promise;
      return new Response("ok");
    } finally {
      inFlight.set(id, inFlight.get(id)! - 1);
    }
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/hooks`,
    /** POSTs of `id` so far. */
    posts: (id: string) => posts.get(id) ?? 0,
    /** The most POSTs of `id` that were in flight at once. */
    mostInFlight: (id: string) => mostInFlight.get(id) ?? 0,
    /** Answers the held requests (200), and the next ones at once. */
    release() {
      holding = false;
      released.resolve();
      released = Promise.withResolvers<void>();
    },
    waitFor(predicate: () => boolean): Promise<void> {
      if (predicate()) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
    async close() {
      this.release();
      await server.shutdown();
    },
  };
}

async function redeliver(
  origin: string,
  id: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${origin}/api/webhooks/deliveries/${encodeURIComponent(id)}/redeliver`, {
    method: "POST",
    headers: AUTH,
  });
  return { status: response.status, body: await response.json() };
}

Deno.test("a redeliver while the message's attempt is in flight is refused (409): one POST of its webhook-id at a time", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_webhooks_redeliver_" });
  const receiver = holdingReceiver("call.ended");
  // The attempt waits up to 30 s for an answer (the lease is the default minute): the receiver holds it.
  const app = await startInstance(dataDir, receiver.url, { timeoutMs: 30_000 });
  try {
    const callSid = await shortCall(app.t);
    const id = `msg_call_ended_${callSid}`;
    await within(receiver.waitFor(() => receiver.posts(id) === 1), "call.ended's first POST");

    const mid = await redeliver(app.t.origin, id);
    assert.equal(mid.status, 409);
    assert.equal(mid.body.error, `Webhook "${id}" is being sent now: try again when its attempt ends`);

    // The held attempt ends: its result is the one recorded.
    receiver.release();
    await within(
      app.t.waitForLog(new RegExp(`Webhook call\\.ended ${id} delivered \\(HTTP 200, attempt 1\\)`)),
      "the held attempt, recorded",
    );
    // Now a redeliver sends it again, same id.
    const after = await redeliver(app.t.origin, id);
    assert.equal(after.status, 202);
    await within(
      app.t.waitForLog(new RegExp(`Webhook call\\.ended ${id} delivered \\(HTTP 200, attempt 2\\)`)),
      "the redelivery, recorded",
    );
    assert.equal(receiver.posts(id), 2);
    assert.equal(
      receiver.mostInFlight(id),
      1,
      `${receiver.posts(id)} POSTs of ${id}, ${receiver.mostInFlight(id)} in flight at once`,
    );
    const response = await fetch(`${app.t.origin}/api/webhooks/deliveries?callSid=${callSid}`, {
      headers: AUTH,
    });
    const { deliveries } = await response.json() as WebhookDeliveryList;
    const delivery = deliveries.find((d) => d.id === id)!;
    assert.equal(delivery.state, "delivered");
    assert.deepEqual(delivery.attemptLog.map((a) => a.status), [200, 200]);
  } finally {
    await app.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
