/**
 * Signed webhooks end to end: a real call through the fakes reaches a receiver that verifies every
 * request with `npm:standardwebhooks`; a receiver that is down, then failing, then up gets every
 * event, retries carrying the same `webhook-id`; a restart mid-backoff loses nothing; after 24 h a
 * message is given up and the redeliver button sends it again. The clock of the worker is the test's,
 * so hours of backoff pass at once.
 */

import assert from "node:assert/strict";
import { startWebhookReceiver } from "../../testing/webhook_receiver.ts";
import { AUTH, SECRET, shortCall, startInstance } from "./_call.ts";
import type { WebhookDeliveryList, WebhookRedelivery } from "../../src/api/types.ts";

const MINUTE = 60_000;

/** A clock the test moves. */
function testClock(start = Date.UTC(2026, 0, 5, 9)) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

async function deliveries(origin: string, query = ""): Promise<WebhookDeliveryList> {
  const response = await fetch(`${origin}/api/webhooks/deliveries${query}`, { headers: AUTH });
  assert.equal(response.status, 200);
  return await response.json();
}

Deno.test("a call's call.started and call.ended reach the receiver signed, and verify with npm:standardwebhooks", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_webhooks_" });
  const receiver = await startWebhookReceiver(SECRET);
  const app = await startInstance(dataDir, receiver.url, {});
  try {
    const callSid = await shortCall(app.t, { lead: "Dana" });
    await receiver.waitFor((r) => r.some((w) => w.body.type === "call.ended"));
    await app.t.waitForLog(/Webhook call\.ended \S+ delivered \(HTTP 200, attempt 1\)/);
    await app.t.waitForLog(/Webhook call\.started \S+ delivered \(HTTP 200, attempt 1\)/);
    assert.deepEqual(receiver.rejected, [], "every signature verified");
    const [started, ended] = receiver.received;
    assert.equal(started?.body.type, "call.started");
    assert.equal(started?.id, `msg_call_started_${callSid}`);
    assert.equal(started?.body.data.callSid, callSid);
    assert.equal(started?.body.data.persona, "tester");
    assert.equal(started?.body.data.source, "phone");
    assert.match(started!.signature, /^v1,[A-Za-z0-9+/]+=*$/);
    assert.ok(Math.abs(Number(started!.timestamp) * 1000 - Date.now()) < 60_000, "signed at the real time");

    assert.equal(ended?.id, `msg_call_ended_${callSid}`);
    const data = ended!.body.data;
    assert.equal(data.persona, "tester");
    assert.equal(data.endReason, "caller_hung_up");
    assert.equal(data.source, "phone");
    assert.deepEqual(data.parameters, { persona: "tester", lead: "Dana" });
    assert.deepEqual(
      (data.transcript as { speaker: string; text: string }[]).map((l) => [l.speaker, l.text]),
      [["agent", "Hi, this is the tester."]],
    );
    assert.equal(typeof data.durationMs, "number");
    assert.ok(Date.parse(String(data.endedAt)) >= Date.parse(String(data.startedAt)));
    assert.ok("costUsd" in data && "latency" in data && "from" in data && "to" in data);

    // The delivery log: both delivered at the first attempt, with the receiver's status.
    const log = await deliveries(app.t.origin, `?callSid=${callSid}`);
    assert.equal(log.enabled, true);
    assert.deepEqual(log.deliveries.map((d) => [d.type, d.state, d.attempts, d.lastStatus]).sort(), [
      ["call.ended", "delivered", 1, 200],
      ["call.started", "delivered", 1, 200],
    ]);
    assert.equal(log.deliveries[0]!.attemptLog[0]!.instance, "alpha");
    // The secret never reaches the log.
    assert.ok(!app.t.logs.some((l) => l.line.includes(SECRET.slice(6, 30))));
  } finally {
    await app.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a rehearsal's webhooks say source rehearsal, a phone call's say phone, so a receiver can tell them apart", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_webhooks_source_" });
  const receiver = await startWebhookReceiver(SECRET);
  const app = await startInstance(dataDir, receiver.url, {});
  try {
    const rehearsal = await shortCall(app.t, { parley_source: "rehearsal" });
    await receiver.waitFor((r) => r.some((w) => w.body.type === "call.ended"));
    const ofCall = (type: string) => receiver.received.find((w) => w.body.type === type)?.body.data;
    assert.equal(ofCall("call.started")?.callSid, rehearsal);
    assert.equal(ofCall("call.started")?.source, "rehearsal");
    assert.equal(ofCall("call.ended")?.source, "rehearsal");
    assert.deepEqual(receiver.rejected, []);
  } finally {
    await app.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a receiver down for ten minutes, then failing, then up gets every event; retries carry the same id", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_webhooks_" });
  const receiver = await startWebhookReceiver(SECRET, "down");
  const clock = testClock();
  const app = await startInstance(dataDir, receiver.url, { now: clock.now });
  try {
    // Both messages' attempt n, before the clock moves on: one still in flight when the clock jumps
    // again would be rescheduled from the later time, a round ahead of the other.
    const failed = (n: number) =>
      Promise.all(
        ["ended", "started"].map((kind) =>
          app.t.waitForLog(new RegExp(`Webhook call\\.${kind} \\S+ attempt ${n} failed`))
        ),
      );
    const callSid = await shortCall(app.t);
    await failed(1);
    assert.match(
      await app.t.waitForLog(/Webhook call\.started \S+ attempt 1 failed/),
      /connection|Connect|refused/i,
    );
    // Ten minutes down, retried all along (backoff 5 s, 10 s, 20 s…): still pending, nothing lost.
    for (let n = 2; clock.now() - Date.UTC(2026, 0, 5, 9) < 10 * MINUTE; n++) {
      const log = await deliveries(app.t.origin);
      const next = Math.max(...log.deliveries.map((d) => d.nextTryAt!));
      clock.advance(next - clock.now());
      await failed(n);
    }
    let log = await deliveries(app.t.origin);
    assert.deepEqual(log.deliveries.map((d) => d.state), ["pending", "pending"]);
    const downAttempts = log.deliveries[0]!.attempts;
    assert.ok(downAttempts >= 6, `${downAttempts} attempts in ten minutes`);
    // The next try after ten minutes down keeps to the schedule: 5 s doubled per failed attempt, with
    // ±20 % jitter (after the 8th or 9th attempt, depending on the jitter drawn: 9 to 25 minutes on).
    for (const d of log.deliveries) {
      const backoff = 5_000 * 2 ** (d.attempts - 1);
      const wait = d.nextTryAt! - clock.now();
      assert.ok(
        wait >= 0.8 * backoff && wait <= 1.2 * backoff,
        `next try in ${wait} ms after ${d.attempts} attempts`,
      );
      assert.ok(wait <= 26 * MINUTE, "retried within 26 minutes");
    }

    // Failing: it reads (and verifies) the request, then answers 500.
    /** Moves the clock to when every pending message is due. */
    const untilDue = async () => {
      const pending = (await deliveries(app.t.origin)).deliveries.filter((d) => d.state === "pending");
      clock.advance(Math.max(...pending.map((d) => d.nextTryAt!)) - clock.now());
    };
    await receiver.setMode("failing");
    await untilDue();
    await receiver.waitFor((r) => r.length === 2);
    await app.t.waitForLog(
      new RegExp(`Webhook call\\.ended \\S+ attempt ${downAttempts + 1} failed \\(HTTP 500\\)`),
    );
    await app.t.waitForLog(
      new RegExp(`Webhook call\\.started \\S+ attempt ${downAttempts + 1} failed \\(HTTP 500\\)`),
    );
    // Up.
    await receiver.setMode("up");
    await untilDue();
    await receiver.waitFor((r) => r.filter((w) => w.answered === 200).length === 2);
    await app.t.waitForLog(/Webhook call\.ended \S+ delivered/);
    await app.t.waitForLog(/Webhook call\.started \S+ delivered/);

    assert.deepEqual(receiver.rejected, []);
    const ids = new Set(receiver.received.map((w) => w.id));
    assert.deepEqual([...ids].sort(), [`msg_call_ended_${callSid}`, `msg_call_started_${callSid}`]);
    for (const id of ids) {
      const copies = receiver.received.filter((w) => w.id === id);
      assert.deepEqual(copies.map((w) => w.answered), [500, 200], `${id}: a duplicate with the same id`);
      assert.equal(copies[0]!.body.timestamp, copies[1]!.body.timestamp, "the same event");
    }
    log = await deliveries(app.t.origin);
    for (const d of log.deliveries) {
      assert.equal(d.state, "delivered");
      assert.equal(d.attempts, downAttempts + 2);
      assert.deepEqual(d.attemptLog.slice(-2).map((a) => a.status), [500, 200]);
      assert.equal(d.attemptLog[0]!.status, null);
      assert.equal(d.nextTryAt, null);
    }
  } finally {
    await app.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a restart mid-backoff loses nothing: the next run sends what the last one could not", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_webhooks_" });
  const receiver = await startWebhookReceiver(SECRET, "down");
  const clock = testClock();
  let app = await startInstance(dataDir, receiver.url, { now: clock.now });
  try {
    const callSid = await shortCall(app.t);
    await app.t.waitForLog(/Webhook call\.ended \S+ attempt 1 failed/);
    await app.t.waitForLog(/Webhook call\.started \S+ attempt 1 failed/);
    await app.close();

    await receiver.setMode("up");
    clock.advance(5 * MINUTE);
    app = await startInstance(dataDir, receiver.url, { now: clock.now });
    await receiver.waitFor((r) => r.length === 2);
    await app.t.waitForLog(/Webhook call\.ended \S+ delivered \(HTTP 200, attempt 2\)/);
    await app.t.waitForLog(/Webhook call\.started \S+ delivered \(HTTP 200, attempt 2\)/);
    assert.deepEqual(receiver.rejected, []);
    assert.deepEqual(receiver.received.map((w) => w.id).sort(), [
      `msg_call_ended_${callSid}`,
      `msg_call_started_${callSid}`,
    ]);
    const log = await deliveries(app.t.origin);
    for (const d of log.deliveries) {
      assert.equal(d.state, "delivered");
      assert.deepEqual(d.attemptLog.map((a) => a.status), [null, 200]);
    }
  } finally {
    await app.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("after 24 h of failures a message is failed; redeliver sends it again with the same id", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_webhooks_" });
  const receiver = await startWebhookReceiver(SECRET, "down");
  const clock = testClock();
  const start = clock.now();
  const app = await startInstance(dataDir, receiver.url, { now: clock.now });
  try {
    const callSid = await shortCall(app.t);
    const id = `msg_call_ended_${callSid}`;
    await app.t.waitForLog(/Webhook call\.ended \S+ attempt 1 failed/);
    let d = (await deliveries(app.t.origin)).deliveries.find((x) => x.id === id)!;
    while (d.state === "pending") {
      clock.advance(d.nextTryAt! - clock.now());
      const attempts = d.attempts;
      await app.t.waitForLog(
        new RegExp(`Webhook call\\.ended ${id} (attempt ${attempts + 1} failed|failed after)`),
      );
      d = (await deliveries(app.t.origin)).deliveries.find((x) => x.id === id)!;
    }
    assert.equal(d.state, "failed");
    assert.ok(clock.now() - start <= 24 * 60 * MINUTE, "gave up within 24 h");
    assert.ok(
      clock.now() - start >= 22 * 60 * MINUTE,
      `tried for most of a day: ${(clock.now() - start) / MINUTE} min`,
    );
    const gaps = d.attemptLog.slice(1).map((a, i) => a.at - d.attemptLog[i]!.at);
    assert.ok(gaps.every((gap, i) => i === 0 || gap >= gaps[i - 1]! * 0.6), `backoff grows: ${gaps}`);
    assert.ok(Math.max(...gaps) <= 72 * MINUTE, "capped at about an hour");
    await app.t.waitForLog(new RegExp(`Webhook call\\.ended ${id} failed after ${d.attempts} attempts`));

    // Redeliver: the same message, now.
    await receiver.setMode("up");
    const refused = await fetch(`${app.t.origin}/api/webhooks/deliveries/msg_nope/redeliver`, {
      method: "POST",
      headers: AUTH,
    });
    assert.equal(refused.status, 404);
    await refused.body?.cancel();
    const unsigned = await fetch(`${app.t.origin}/api/webhooks/deliveries/${id}/redeliver`, {
      method: "POST",
    });
    assert.equal(unsigned.status, 401);
    await unsigned.body?.cancel();
    const response = await fetch(`${app.t.origin}/api/webhooks/deliveries/${id}/redeliver`, {
      method: "POST",
      headers: AUTH,
    });
    assert.equal(response.status, 202);
    const { delivery } = await response.json() as WebhookRedelivery;
    assert.equal(delivery.id, id);
    assert.equal(delivery.state, "pending");
    await receiver.waitFor((r) => r.some((w) => w.id === id));
    assert.deepEqual(receiver.rejected, []);
  } finally {
    await app.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
