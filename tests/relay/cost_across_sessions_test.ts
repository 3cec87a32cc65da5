/**
 * A call served by several upstream sessions in turn costs the sum of them. GPT-Live: each new session
 * (after the session cap, a drop, a rollover) reports its billed seconds from 0 again, and the call's
 * record, `GET /api/calls/:sid` and `/metrics` add them up rather than keep the last session's alone.
 * Realtime: each answer is priced once, a pre-warmed greeting's included, across a reconnect. A pre-warm
 * discarded at `start` (planned again, or closed by OpenAI first) was spent on the call: it is one more session.
 */

import assert from "node:assert/strict";
import type { FakeLiveSession } from "../../testing/fake_live.ts";
import type { FakeTwilioCall } from "../../testing/fake_twilio.ts";
import { type FakeRealtimeSession, SHORT_ANSWER_USAGE, toneBytes } from "../../testing/fake_realtime.ts";
import {
  newCallSid,
  startTestParley,
  TEST_PUBLIC_BASE_URL,
  type TestParley,
} from "../../testing/parley_harness.ts";
import { STATUS_CALLBACK_PATH } from "../../src/paths.ts";
import { within } from "../../testing/within.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../../testing/webhook_receiver.ts";
import { callDatabasePath, openCallStore } from "../../src/store/sqlite/call_store.ts";
import { openSqliteWebhookOutbox } from "../../src/store/sqlite/webhook_outbox.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { LIVE_PERSONA } from "./_reconnect.ts";

const API_TOKEN = "live-cost-test-token-0123456789abcdef";
/** A Standard Webhooks secret (32 bytes, base64). */
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwC8ZbS0Ua4nA=";

/** The body of a test: the server, the receiver of its webhooks, and what its call store complained of. */
type Body = (t: TestParley, hooks: WebhookReceiver, storeErrors: string[]) => Promise<void>;

/** Runs `body` against a Parley with a GPT-Live persona `sam`, a call store, an API token and public metrics. */
async function withLiveParley(
  env: Record<string, string>,
  body: Body,
): Promise<void> {
  await withPersonaDir({ "sam.ts": LIVE_PERSONA }, async (dir) => {
    // No reports on a timer: each session reports exactly the seconds the test gives it.
    await withParley({ personasDir: dir, env: { DEFAULT_PERSONA: "sam", ...env } }, body);
  });
}

/** Runs `body` against a Parley with a call store, an API token, public metrics and webhooks. */
async function withParley(
  options: { personasDir?: string; env?: Record<string, string>; prewarmTtlMs?: number },
  body: Body,
): Promise<void> {
  const dataDir = await Deno.makeTempDir();
  const storeErrors: string[] = [];
  const store = openCallStore(callDatabasePath(dataDir), { onError: (message) => storeErrors.push(message) });
  const outbox = openSqliteWebhookOutbox(callDatabasePath(dataDir));
  const hooks = await startWebhookReceiver(SECRET);
  const t = await startTestParley({
    ...options,
    env: { METRICS_PUBLIC: "on", API_TOKEN, WEBHOOK_URL: hooks.url, WEBHOOK_SECRET: SECRET, ...options.env },
    store,
    outbox,
    webhookTiming: { pollMs: 25 },
    live: { usageIntervalMs: 0 },
  });
  try {
    await body(t, hooks, storeErrors);
    assert.deepEqual(storeErrors, [], "the store took every event (a test clears what it expected)");
  } finally {
    await t.close();
    store.close();
    outbox.close();
    await hooks.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** Has `session` report `seconds` billed so far and waits for the call's usage event it becomes. */
/** Twilio opens the media stream the webhook answered and starts it for `persona` (the pre-warm's call). */
async function startStream(
  t: TestParley,
  streamUrl: string,
  callSid: string,
  persona: string,
): Promise<FakeTwilioCall> {
  const call = await t.connectStream(streamUrl, callSid);
  call.connected();
  call.start({ persona });
  return call;
}

async function reportSeconds(t: TestParley, session: FakeLiveSession, seconds: number): Promise<void> {
  const before = new Set(t.events);
  session.billedSeconds = seconds;
  session.sendUsage();
  await within(t.waitForEvent("usage", (e) => !before.has(e)), `the usage report of ${seconds} s`);
}

/** What the tests read of `GET /api/calls/:sid`. */
interface CallRecordJson {
  minutes: number;
  costUsd: number | null;
  reconnects: number;
  responses: { responseId: string; costUsd: number | null }[];
  /** What the `call.ended` webhook said of the call. */
  webhook: { minutes: number; costUsd: number | null };
}

/**
 * The caller hangs up; returns the call's record as `GET /api/calls/:sid` serves it, with what the
 * `call.ended` webhook said.
 */
async function hangUpAndRead(
  t: TestParley,
  hooks: WebhookReceiver,
  call: { callSid: string; stop(): void; closed: Promise<unknown> },
): Promise<CallRecordJson> {
  call.stop();
  await within(t.waitForEvent("call.ended", (e) => e.callSid === call.callSid), "the end");
  await within(call.closed, "the Twilio socket closing");
  return await readRecord(t, hooks, call.callSid);
}

/** The ended call's record as `GET /api/calls/:sid` serves it, with what the `call.ended` webhook said. */
async function readRecord(t: TestParley, hooks: WebhookReceiver, callSid: string): Promise<CallRecordJson> {
  const response = await fetch(`${t.origin}/api/calls/${callSid}`, {
    headers: { Authorization: `Bearer ${API_TOKEN}` },
  });
  assert.equal(response.status, 200);
  const record = await response.json();
  await within(
    hooks.waitFor((r) => r.some((w) => w.body.type === "call.ended" && w.body.data.callSid === callSid)),
    "the call.ended webhook",
  );
  const ended = hooks.received.find((w) => w.body.type === "call.ended")!.body.data;
  return {
    ...record,
    webhook: { minutes: ended.minutes as number, costUsd: ended.costUsd as number | null },
  };
}

/** The call's minutes and cost on `/metrics` (one call: the totals are its). */
async function metricFigures(t: TestParley): Promise<{ minutes: number; engineCost: number; cost: number }> {
  const text = await (await fetch(`${t.origin}/metrics`)).text();
  const read = (pattern: RegExp) => Number(pattern.exec(text)?.[1]);
  return {
    minutes: read(/^parley_session_minutes_total\{engine="live"\} (\S+)$/m),
    engineCost: read(/^parley_engine_estimated_cost_usd_total\{engine="live"\} (\S+)$/m),
    cost: read(/^parley_estimated_cost_usd_total (\S+)$/m),
  };
}

/** The record, the `call.ended` webhook and `/metrics` all say `minutes` and what they cost at $0.05 a minute. */
async function assertBilled(t: TestParley, record: CallRecordJson, minutes: number): Promise<void> {
  const costUsd = Math.round(minutes * 0.05 * 1e6) / 1e6;
  assert.deepEqual({ minutes: record.minutes, costUsd: record.costUsd }, { minutes, costUsd }, "the record");
  assert.deepEqual(record.webhook, { minutes, costUsd }, "the call.ended webhook agrees with the record");
  assert.deepEqual(
    await metricFigures(t),
    { minutes, engineCost: costUsd, cost: costUsd },
    "/metrics agrees with the record",
  );
}

for (
  const [name, end] of [
    [
      "the server ends the first session at its cap (session.closed expired)",
      (s: FakeLiveSession) => s.closeSession("expired"),
    ],
    ["the first session drops mid-call (1011, no session.closed)", (s: FakeLiveSession) => s.drop()],
  ] as const
) {
  Deno.test(`GPT-Live cost: ${name}: the call costs 60 s + 30 s, not the second session's 30 s`, async () => {
    await withLiveParley({}, async (t, hooks) => {
      const call = await t.startCall({ persona: "sam" });
      const first = await within(t.live.session(0), "the first session");
      // Pre-warmed on the webhook: its reports count once the stream has started.
      await within(t.waitForEvent("call.started"), "the stream started");
      await within(first.waitFor("session.start"), "the first session started");
      await reportSeconds(t, first, 60);
      end(first);
      const second = await within(t.live.session(1), "the new session", 3000);
      await within(t.waitForEvent("reconnected"), "the reconnect");
      await within(second.waitFor("session.start"), "the new session started");
      await reportSeconds(t, second, 30);

      const record = await hangUpAndRead(t, hooks, call);
      assert.equal(record.reconnects, 1);
      await assertBilled(t, record, 1.5);
    });
  });
}

Deno.test("GPT-Live cost: a replaced session whose last report was impossible leaves the call's cost unknown, not the new session's alone", async () => {
  await withLiveParley({}, async (t, hooks, storeErrors) => {
    const call = await t.startCall({ persona: "sam" });
    const first = await within(t.live.session(0), "the first session");
    await within(t.waitForEvent("call.started"), "the stream started");
    await within(first.waitFor("session.start"), "the first session started");
    await reportSeconds(t, first, 60);
    await reportSeconds(t, first, 1e308);
    first.drop();
    const second = await within(t.live.session(1), "the new session", 3000);
    await within(second.waitFor("session.start"), "the new session started");
    await reportSeconds(t, second, 30);

    const record = await hangUpAndRead(t, hooks, call);
    assert.equal(record.costUsd, null, "what the first session billed is not known");
    assert.equal(record.minutes, 1, "the minutes known for sure stay");
    assert.deepEqual(record.webhook, { minutes: 1, costUsd: null });
    assert.ok(storeErrors.length > 0, "the impossible report is logged");
    for (const error of storeErrors) assert.match(error, /impossible session time \(seconds=1e\+308\)/);
    storeErrors.length = 0;
  });
});

Deno.test("GPT-Live cost: a session Parley replaces (rollover) counts its final report, the one its session.closed carries", async () => {
  // A rollover 3 s into each session: Parley closes the old session politely; its final usage comes back
  // in `session.closed` after the new session took over.
  await withLiveParley({ SESSION_ROLLOVER_MINUTES: "0.05" }, async (t, hooks) => {
    const call = await t.startCall({ persona: "sam" });
    const first = await within(t.live.session(0), "the first session");
    await within(t.waitForEvent("call.started"), "the stream started");
    await within(first.waitFor("session.start"), "the first session started");
    // No report on a timer: only its answer to `session.close` says it billed 60 s.
    first.billedSeconds = 60;
    const finalReport = t.waitForEvent("usage");
    const second = await within(t.live.session(1), "the new session", 6000);
    await within(first.waitFor("session.close"), "the old session told goodbye");
    await within(first.closed, "the old session closed");
    await within(finalReport, "the old session's final report");
    await within(second.waitFor("session.start"), "the new session started");
    await reportSeconds(t, second, 30);

    const record = await hangUpAndRead(t, hooks, call);
    assert.equal(record.reconnects, 1);
    await assertBilled(t, record, 1.5);
  });
});

Deno.test("GPT-Live cost: the call's last session counts what it billed up to the goodbye, in the record and call.ended", async () => {
  await withLiveParley({}, async (t, hooks) => {
    const call = await t.startCall({ persona: "sam" });
    const session = await within(t.live.session(0), "the session");
    await within(t.waitForEvent("call.started"), "the stream started");
    await within(session.waitFor("session.start"), "the session started");
    await reportSeconds(t, session, 60);
    // 15 s more since that report: only the answer to Parley's goodbye (`session.closed`) says so.
    session.billedSeconds = 75;
    const record = await hangUpAndRead(t, hooks, call);
    assert.equal((await session.waitFor("session.close")).type, "session.close");
    await assertBilled(t, record, 1.25);
  });
});

/**
 * A webhook for a new call whose pre-warmed Realtime session answers the greeting (200 ms of audio and
 * a short answer's usage) before Twilio connects.
 */
async function prewarmAnswersGreeting(
  t: TestParley,
  responseId: string,
  itemId: string,
): Promise<{ callSid: string; streamUrl: string; session: FakeRealtimeSession }> {
  const callSid = newCallSid();
  const streamUrl = await t.answerWebhook(callSid);
  const session = await within(t.upstream.session(0), "the pre-warmed session");
  await within(session.waitFor("response.create"), "the greeting asked for on the webhook");
  await session.streamResponse({
    responseId,
    itemId,
    audio: toneBytes(200, 0x11),
    usage: SHORT_ANSWER_USAGE,
  });
  return { callSid, streamUrl, session };
}

Deno.test("Realtime cost: a pre-warmed greeting's answer counts once, and an answer after a reconnect adds to it", async () => {
  await withParley({}, async (t, hooks) => {
    // The greeting is answered, its usage reported, before Twilio even connects: held, then replayed.
    const { callSid, streamUrl, session: first } = await prewarmAnswersGreeting(
      t,
      "resp_greeting",
      "item_greeting",
    );
    const call = await startStream(t, streamUrl, callSid, "tester");
    await within(t.waitForEvent("usage", (e) => e.callSid === callSid), "the greeting's usage");
    first.drop();
    const second = await within(t.upstream.session(1), "the new session", 3000);
    await within(t.waitForEvent("reconnected"), "the reconnect");
    await within(second.waitFor("session.update"), "the new session configured");
    const before = new Set(t.events);
    await second.streamResponse({
      responseId: "resp_after",
      itemId: "item_after",
      audio: toneBytes(100, 0x12),
      usage: SHORT_ANSWER_USAGE,
    });
    await within(t.waitForEvent("usage", (e) => !before.has(e)), "the second answer's usage");

    const record = await hangUpAndRead(t, hooks, call);
    assert.equal(record.reconnects, 1);
    assert.deepEqual(record.responses.map((r) => r.responseId), ["resp_greeting", "resp_after"]);
    const each = record.responses[0]!.costUsd!;
    assert.ok(each > 0, `an answer costs ${each}`);
    assert.equal(record.responses[1]!.costUsd, each, "the same usage, the same price");
    assert.ok(Math.abs(record.costUsd! - 2 * each) < 1e-9, `the call costs two answers: ${record.costUsd}`);
    assert.equal(record.webhook.costUsd, record.costUsd, "the call.ended webhook agrees with the record");
    const text = await (await fetch(`${t.origin}/metrics`)).text();
    const metricCost = Number(/^parley_estimated_cost_usd_total (\S+)$/m.exec(text)?.[1]);
    assert.ok(
      Math.abs(metricCost - record.costUsd!) < 1e-9,
      `/metrics ${metricCost} = record ${record.costUsd}`,
    );
  });
});

/**
 * A persona of `model` whose instructions name the StreamSid: its pre-warm, planned before the stream
 * existed, is discarded at `start`, and the call is served by a fresh session.
 */
function personaNamingTheStream(model: string, greeting?: string): string {
  return `export default {
  model: ${JSON.stringify(model)},
  voice: "marin",
  ${greeting === undefined ? "" : `greeting: ${JSON.stringify(greeting)},`}
  instructions: (context: { streamSid: string }) => \`Be brief. Stream: \${context.streamSid}.\`,
};
`;
}

Deno.test("GPT-Live cost: a pre-warm discarded at start counts in the call: its 60 s + the fresh session's 30 s", async () => {
  await withPersonaDir({ "bystream.ts": personaNamingTheStream("gpt-live-1.1") }, async (dir) => {
    await withParley({ personasDir: dir, env: { DEFAULT_PERSONA: "bystream" } }, async (t, hooks) => {
      const callSid = newCallSid();
      const streamUrl = await t.answerWebhook(callSid);
      const prewarm = await within(t.live.session(0), "the pre-warmed session");
      await within(prewarm.waitFor("session.start"), "the pre-warm started");
      // A report held for the stream, then the final 60 s its answer to the goodbye carries.
      prewarm.billedSeconds = 20;
      prewarm.sendUsage();
      prewarm.billedSeconds = 60;
      const call = await startStream(t, streamUrl, callSid, "bystream");
      const fresh = await within(t.live.session(1), "the fresh session planned at start");
      await within(prewarm.waitFor("session.close"), "the discarded pre-warm told goodbye");
      await within(
        t.waitForEvent(
          "usage",
          (e) => e.callSid === callSid && (e.usage as { seconds: number }).seconds === 60,
        ),
        "the discarded pre-warm's 60 s in the call's usage",
      );
      await within(fresh.waitFor("session.start"), "the fresh session started");
      await reportSeconds(t, fresh, 30);

      const record = await hangUpAndRead(t, hooks, call);
      assert.equal(record.reconnects, 0, "a discarded pre-warm is no reconnect");
      await assertBilled(t, record, 1.5);
    });
  });
});

Deno.test("Realtime cost: a greeting a discarded pre-warm answered ahead counts in the call, with the fresh session's", async () => {
  const persona = personaNamingTheStream("gpt-realtime-2.1", "Greet the caller.");
  await withPersonaDir({ "bystream.ts": persona }, async (dir) => {
    await withParley({ personasDir: dir, env: { DEFAULT_PERSONA: "bystream" } }, async (t, hooks) => {
      const { callSid, streamUrl } = await prewarmAnswersGreeting(t, "resp_prewarm", "item_prewarm");
      const call = await startStream(t, streamUrl, callSid, "bystream");
      const fresh = await within(t.upstream.session(1), "the fresh session planned at start");
      await within(fresh.waitFor("response.create"), "the greeting asked for again");
      await fresh.streamResponse({
        responseId: "resp_greeting",
        itemId: "item_greeting",
        audio: toneBytes(200, 0x12),
        usage: SHORT_ANSWER_USAGE,
      });
      await within(
        t.waitForEvent("usage", (e) => (e.usage as { responseId: string }).responseId === "resp_greeting"),
        "the fresh greeting's usage",
      );

      const record = await hangUpAndRead(t, hooks, call);
      assert.deepEqual(record.responses.map((r) => r.responseId).sort(), ["resp_greeting", "resp_prewarm"]);
      const each = record.responses[0]!.costUsd!;
      assert.ok(each > 0, `an answer costs ${each}`);
      assert.ok(
        Math.abs(record.costUsd! - 2 * each) < 1e-9,
        `the call costs both greetings: ${record.costUsd}`,
      );
      assert.equal(record.webhook.costUsd, record.costUsd, "the call.ended webhook agrees with the record");
      const text = await (await fetch(`${t.origin}/metrics`)).text();
      const metricCost = Number(/^parley_estimated_cost_usd_total (\S+)$/m.exec(text)?.[1]);
      assert.ok(
        Math.abs(metricCost - record.costUsd!) < 1e-9,
        `/metrics ${metricCost} = record ${record.costUsd}`,
      );
    });
  });
});

Deno.test("GPT-Live cost: a pre-warm OpenAI closed before start counts its 45 s in the call, with the fresh session's 30 s", async () => {
  await withLiveParley({}, async (t, hooks) => {
    const callSid = newCallSid();
    const streamUrl = await t.answerWebhook(callSid);
    const prewarm = await within(t.live.session(0), "the pre-warmed session");
    await within(prewarm.waitFor("session.start"), "the pre-warm started");
    prewarm.billedSeconds = 45;
    prewarm.closeSession("expired");
    await within(prewarm.closed, "the pre-warm closed by OpenAI");
    const call = await startStream(t, streamUrl, callSid, "sam");
    const fresh = await within(t.live.session(1), "the fresh session opened at start");
    await within(
      t.waitForEvent(
        "usage",
        (e) => e.callSid === callSid && (e.usage as { seconds: number }).seconds === 45,
      ),
      "the closed pre-warm's 45 s in the call's usage",
    );
    await within(fresh.waitFor("session.start"), "the fresh session started");
    await reportSeconds(t, fresh, 30);

    const record = await hangUpAndRead(t, hooks, call);
    await assertBilled(t, record, 1.25);
  });
});

Deno.test("GPT-Live cost: a pre-warm that expired unclaimed counts its 45 s in the never-connected call's record, call.ended and /metrics", async () => {
  await withPersonaDir({ "sam.ts": LIVE_PERSONA }, async (dir) => {
    const options = { personasDir: dir, env: { DEFAULT_PERSONA: "sam" }, prewarmTtlMs: 1000 };
    await withParley(options, async (t, hooks) => {
      const callSid = newCallSid();
      await t.answerWebhook(callSid);
      const prewarm = await within(t.live.session(0), "the pre-warmed session");
      await within(prewarm.waitFor("session.start"), "the pre-warm started");
      // A report held for the stream, then the final 45 s its answer to the goodbye carries.
      prewarm.billedSeconds = 30;
      prewarm.sendUsage();
      prewarm.billedSeconds = 45;
      // Twilio never opens the stream: the pre-warm expires and is told goodbye.
      await within(prewarm.waitFor("session.close"), "the expired pre-warm told goodbye");
      await within(
        t.waitForEvent(
          "usage",
          (e) => e.callSid === callSid && (e.usage as { seconds: number }).seconds === 45,
        ),
        "the expired pre-warm's 45 s as the call's usage",
      );
      await twilioGaveUp(t, callSid);
      await assertBilled(t, await readRecord(t, hooks, callSid), 0.75);
    });
  });
});

/** Twilio reports the call over before any stream: it ends never_connected at once (else after 60 s). */
async function twilioGaveUp(t: TestParley, callSid: string): Promise<void> {
  const form = { CallSid: callSid, CallStatus: "completed" };
  const response = await fetch(`${t.origin}${STATUS_CALLBACK_PATH}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      ...t.twilioHeaders(`${TEST_PUBLIC_BASE_URL}${STATUS_CALLBACK_PATH}`, form),
    },
    body: new URLSearchParams(form),
  });
  assert.ok(response.ok, `the status callback: ${response.status} ${await response.text()}`);
  const ended = await within(t.waitForEvent("call.ended", (e) => e.callSid === callSid), "the end");
  assert.equal(ended.reason, "never_connected");
}

Deno.test("Realtime cost: the greeting a pre-warm that expired unclaimed answered ahead counts in the never-connected call", async () => {
  await withParley({ prewarmTtlMs: 1000 }, async (t, hooks) => {
    const { callSid } = await prewarmAnswersGreeting(t, "resp_prewarm", "item_prewarm");
    await within(
      t.waitForEvent("usage", (e) => e.callSid === callSid),
      "the expired pre-warm's greeting as the call's usage",
    );
    await twilioGaveUp(t, callSid);

    const record = await readRecord(t, hooks, callSid);
    assert.deepEqual(record.responses.map((r) => r.responseId), ["resp_prewarm"]);
    const each = record.responses[0]!.costUsd!;
    assert.ok(each > 0, `an answer costs ${each}`);
    assert.equal(record.costUsd, each);
    assert.equal(record.webhook.costUsd, each, "the call.ended webhook agrees with the record");
    const text = await (await fetch(`${t.origin}/metrics`)).text();
    assert.equal(Number(/^parley_estimated_cost_usd_total (\S+)$/m.exec(text)?.[1]), each, "/metrics");
  });
});
