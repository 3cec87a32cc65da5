/**
 * A call that ends before its media stream starts (the callee hangs up while Parley answers the
 * webhook, so Twilio reports the call over; or the never-connected watch gives up on the stream) does
 * not keep its pre-warmed session: it is closed at once, not at its 15 s expiry, so it stops being
 * billed. What it was billed up to then is the call's, counted before the call ends: the record, the
 * `call.ended` webhook and `/metrics` say the same, and no usage comes after the end.
 */

import assert from "node:assert/strict";
import type { CallEvent } from "../../src/calls/call_events.ts";
import { STATUS_CALLBACK_PATH } from "../../src/paths.ts";
import { callDatabasePath, openCallStore } from "../../src/store/sqlite/call_store.ts";
import { openSqliteWebhookOutbox } from "../../src/store/sqlite/webhook_outbox.ts";
import { SHORT_ANSWER_USAGE, toneBytes } from "../../testing/fake_realtime.ts";
import { newCallSid, startTestParley, type TestParley } from "../../testing/parley_harness.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../../testing/webhook_receiver.ts";
import { within } from "../../testing/within.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";

const API_TOKEN = "prewarm-closed-token-0123456789abcdef";
/** A Standard Webhooks secret (32 bytes, base64). */
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwC8ZbS0Ua4nA=";

/**
 * How soon the pre-warm must be closed once the call is over: far under its 15 s expiry (which the
 * old code waited for), with room for a loaded machine and GPT-Live's 1 s goodbye.
 */
const CLOSED_WITHIN_MS = 3_000;

/** Runs `body` against a Parley whose one persona, `sam` (of `model`, with a greeting), answers every call. */
async function withParley(
  model: string,
  body: (t: TestParley, hooks: WebhookReceiver) => Promise<void>,
  streamConnectTimeoutMs?: number,
): Promise<void> {
  const source = personaSource({ model, voice: "marin", instructions: "Be brief.", greeting: "Greet." });
  await withPersonaDir({ "sam.ts": source }, async (personasDir) => {
    const dataDir = await Deno.makeTempDir();
    const store = openCallStore(callDatabasePath(dataDir));
    const outbox = openSqliteWebhookOutbox(callDatabasePath(dataDir));
    const hooks = await startWebhookReceiver(SECRET);
    const t = await startTestParley({
      personasDir,
      env: {
        DEFAULT_PERSONA: "sam",
        INBOUND_PERSONA: "sam",
        METRICS_PUBLIC: "on",
        API_TOKEN,
        WEBHOOK_URL: hooks.url,
        WEBHOOK_SECRET: SECRET,
      },
      store,
      outbox,
      webhookTiming: { pollMs: 25 },
      live: { usageIntervalMs: 0 }, // GPT-Live reports only what the test has it report
      ...(streamConnectTimeoutMs === undefined ? {} : { streamConnectTimeoutMs }),
    });
    try {
      await body(t, hooks);
    } finally {
      await t.close();
      store.close();
      outbox.close();
      await hooks.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}

/** Twilio's final status for `callSid`, posted (signed) to the status callback. */
async function postFinalStatus(t: TestParley, callSid: string, status: string): Promise<void> {
  const response = await t.postTwilio(STATUS_CALLBACK_PATH, { CallSid: callSid, CallStatus: status });
  assert.equal(response.status, 204, `the status callback: ${response.status} ${await response.text()}`);
}

/** What the record (`GET /api/calls/:sid`), the `call.ended` webhook and `/metrics` say the call cost. */
async function costs(t: TestParley, hooks: WebhookReceiver, callSid: string) {
  const response = await fetch(`${t.origin}/api/calls/${callSid}`, {
    headers: { authorization: `Bearer ${API_TOKEN}` },
  });
  assert.equal(response.status, 200);
  const record = await response.json();
  await within(
    hooks.waitFor((r) => r.some((w) => w.body.type === "call.ended" && w.body.data.callSid === callSid)),
    "the call.ended webhook",
  );
  const ended = hooks.received.find((w) => w.body.type === "call.ended" && w.body.data.callSid === callSid)!;
  const metrics = await (await fetch(`${t.origin}/metrics`)).text();
  return {
    record: {
      costUsd: record.costUsd as number | null,
      minutes: record.minutes as number,
      endReason: record.endReason,
    },
    webhook: {
      costUsd: ended.body.data.costUsd as number | null,
      minutes: ended.body.data.minutes as number,
    },
    metricCostUsd: Number(/^parley_estimated_cost_usd_total (\S+)$/m.exec(metrics)?.[1]),
    endedOutcomes: Number(/^parley_prewarm_total\{outcome="ended"\} (\S+)$/m.exec(metrics)?.[1]),
    expiredOutcomes: Number(/^parley_prewarm_total\{outcome="expired"\} (\S+)$/m.exec(metrics)?.[1]),
  };
}

/** The call's events after its `call.ended` (none should be usage). */
function afterEnd(t: TestParley, callSid: string): CallEvent["type"][] {
  const events = t.events.filter((e) => e.callSid === callSid);
  const end = events.findIndex((e) => e.type === "call.ended");
  assert.ok(end >= 0, "the call ended");
  return events.slice(end + 1).map((e) => e.type);
}

Deno.test("Realtime: Twilio's final status before any stream closes the pre-warm at once; its greeting's cost is in the record and call.ended alike", async () => {
  await withParley("gpt-realtime-2.1", async (t, hooks) => {
    const callSid = newCallSid();
    await t.answerWebhook(callSid);
    const session = await within(t.upstream.session(0), "the session pre-warmed on the webhook");
    await within(session.waitFor("response.create"), "the greeting asked for");
    // The greeting is answered (and billed) ahead, held for a stream that never comes.
    await session.streamResponse({
      responseId: "resp_greet",
      itemId: "item_greet",
      audio: toneBytes(200, 0x11),
      usage: SHORT_ANSWER_USAGE,
    });
    // The callee hangs up while the stream is still to come: Twilio reports the call completed.
    await postFinalStatus(t, callSid, "completed");
    const ended = await within(t.waitForEvent("call.ended", (e) => e.callSid === callSid), "the end");
    assert.equal(ended.reason, "never_connected");
    await within(session.closed, "the pre-warmed session closing once the call is over", CLOSED_WITHIN_MS);
    assert.match(
      await within(
        t.waitForLog(/Pre-warmed session for CallSid=\S+ closed: its call ended/),
        "the close logged",
      ),
      new RegExp(`CallSid=${callSid} closed: its call ended before its stream started`),
    );

    const seen = await costs(t, hooks, callSid);
    assert.ok(
      seen.record.costUsd !== null && seen.record.costUsd > 0,
      `the greeting cost ${seen.record.costUsd}`,
    );
    assert.equal(seen.webhook.costUsd, seen.record.costUsd, "the call.ended webhook agrees with the record");
    assert.ok(
      Math.abs(seen.metricCostUsd - seen.record.costUsd) < 1e-9,
      `/metrics says ${seen.metricCostUsd}`,
    );
    assert.equal(seen.endedOutcomes, 1, "counted as a pre-warm whose call ended");
    assert.equal(seen.expiredOutcomes, 0, "not left to expire");
    const types = t.events.filter((e) => e.callSid === callSid).map((e) => e.type);
    assert.deepEqual(types, ["call.webhook", "usage", "call.status", "call.ended"], "billed before the end");
  });
});

Deno.test("GPT-Live: Twilio's final status before any stream closes the pre-warm at once; its seconds, its goodbye's included, are in the record and call.ended alike", async () => {
  await withParley("gpt-live-1.1", async (t, hooks) => {
    const callSid = newCallSid();
    await t.answerWebhook(callSid);
    const session = await within(t.live.session(0), "the session pre-warmed on the webhook");
    await within(session.waitFor("session.start"), "the pre-warm started");
    // A report held for the stream; the final 45 s come with the answer to Parley's goodbye.
    session.billedSeconds = 30;
    session.sendUsage();
    session.billedSeconds = 45;
    const goodbye = session.waitFor("session.close");
    await postFinalStatus(t, callSid, "canceled");
    await within(goodbye, "the pre-warm told goodbye once the call is over", CLOSED_WITHIN_MS);
    await within(session.closed, "the pre-warmed session closing", CLOSED_WITHIN_MS);
    const ended = await within(t.waitForEvent("call.ended", (e) => e.callSid === callSid), "the end");
    assert.equal(ended.reason, "never_connected");

    const seen = await costs(t, hooks, callSid);
    assert.equal(seen.record.minutes, 0.75, "the record counts the goodbye's 45 s");
    assert.equal(seen.record.costUsd, 0.0375);
    assert.deepEqual(seen.webhook, { costUsd: 0.0375, minutes: 0.75 }, "the call.ended webhook agrees");
    assert.ok(Math.abs(seen.metricCostUsd - 0.0375) < 1e-9, `/metrics says ${seen.metricCostUsd}`);
    assert.deepEqual(afterEnd(t, callSid), [], "no usage after the end");
  });
});

Deno.test("an end the never-connected watch gives before any stream closes the pre-warm at once, and nothing is billed after it", async () => {
  // The stream is given up on after 0.5 s, long before the pre-warm's 15 s expiry.
  await withParley("gpt-realtime-2.1", async (t, hooks) => {
    const callSid = newCallSid();
    await t.answerWebhook(callSid);
    const session = await within(t.upstream.session(0), "the session pre-warmed on the webhook");
    await within(session.waitFor("response.create"), "the greeting asked for");
    const ended = await within(t.waitForEvent("call.ended", (e) => e.callSid === callSid), "the end");
    assert.equal(ended.reason, "never_connected");
    await within(session.closed, "the pre-warmed session closing with the call", CLOSED_WITHIN_MS);
    // The greeting's answer, had the session lived on, would have been billed after the end.
    const seen = await costs(t, hooks, callSid);
    assert.equal(seen.webhook.costUsd, seen.record.costUsd, "the call.ended webhook agrees with the record");
    assert.equal(seen.endedOutcomes, 1);
    assert.deepEqual(afterEnd(t, callSid), [], "no usage after the end");
  }, 500);
});
