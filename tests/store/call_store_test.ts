/**
 * The call store against a real SQLite file: a scripted call is recorded event by event and read back
 * exactly; figures (percentiles, cost) are computed by hand here, not with the code under test.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { CallEvent } from "../../src/calls/call_events.ts";
import {
  callDatabasePath,
  type CallRecord,
  FLUSH_DELAY_MS,
  openCallStore,
} from "../../src/store/sqlite/call_store.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/store/sqlite/schema.ts";
import {
  DEFAULT_PRICES,
  estimateCost,
  estimateMinuteCost,
  parsePriceOverrides,
  PriceConfigError,
  pricesFor,
  resolvePrices,
} from "../../src/engines/prices.ts";

const SID = "CA00000000000000000000000000000001";

/** One outbound call, from placement to hang-up, as the relay and webhooks would emit it. */
function scriptedCall(): CallEvent[] {
  return [
    {
      type: "call.placed",
      at: 1_000,
      callSid: SID,
      persona: "alex",
      from: "+14155550100",
      to: "+14155550111",
      parameters: { campaign: "spring" },
    },
    {
      type: "call.webhook",
      at: 1_500,
      callSid: SID,
      persona: "alex",
      direction: "outbound-api",
      from: "+14155550199",
      to: "+14155550198",
      parameters: { lang: "en" },
    },
    { type: "call.status", at: 1_600, callSid: SID, status: "ringing", detail: "" },
    { type: "call.status", at: 2_000, callSid: SID, status: "in-progress", detail: "answered by human" },
    {
      type: "call.started",
      at: 2_100,
      callSid: SID,
      streamSid: "MZ0001",
      persona: "sam",
      model: "gpt-realtime-2.1",
      parameters: { persona: "sam" },
    },
    { type: "upstream.connected", at: 2_200, callSid: SID, connectMs: 180.5 },
    { type: "session.configured", at: 2_300, callSid: SID },
    { type: "transcript", at: 3_000, callSid: SID, speaker: "agent", text: "Hello, this is Sam." },
    { type: "turn.latency", at: 3_000, callSid: SID, firstAudioSentMs: 400, firstAudioHeardMs: 520 },
    { type: "transcript", at: 5_000, callSid: SID, speaker: "caller", text: "Hi, I need a table for two." },
    { type: "turn.latency", at: 5_400, callSid: SID, firstAudioSentMs: 300, firstAudioHeardMs: undefined },
    {
      type: "interruption",
      at: 6_500,
      callSid: SID,
      itemId: "item_2",
      audioEndMs: 1_200,
      clearLatencyMs: 85,
    },
    {
      type: "transcript",
      at: 6_600,
      callSid: SID,
      speaker: "agent",
      text: "Sure, for what time",
      interruptedAtMs: 1_200,
      spokenAt: 5_900,
    },
    { type: "turn.latency", at: 7_000, callSid: SID, firstAudioSentMs: 250, firstAudioHeardMs: 900 },
    { type: "turn.latency", at: 9_000, callSid: SID, firstAudioSentMs: 200, firstAudioHeardMs: 610 },
    {
      type: "usage",
      at: 9_100,
      callSid: SID,
      model: "gpt-realtime-2.1",
      engine: "realtime",
      usage: {
        responseId: "resp_1",
        inputTextTokens: 500,
        inputAudioTokens: 300,
        inputCachedTokens: 400,
        outputTextTokens: 40,
        outputAudioTokens: 200,
      },
    },
    {
      type: "usage",
      at: 9_200,
      callSid: SID,
      model: "gpt-realtime-2.1",
      engine: "realtime",
      usage: {
        responseId: "resp_2",
        inputTextTokens: 1_000,
        inputAudioTokens: 3_000,
        inputCachedTokens: 2_000,
        outputTextTokens: 60,
        outputAudioTokens: 500,
      },
    },
    { type: "transcript", at: 60_000, callSid: SID, speaker: "caller", text: "Bye." },
    { type: "call.ended", at: 62_100, callSid: SID, reason: "caller_hung_up", detail: "stop received" },
    // The teardown echoing the end must not overwrite it.
    { type: "call.ended", at: 63_000, callSid: SID, reason: "agent_hung_up", detail: "late" },
  ];
}

// gpt-realtime-2.1, USD per 1M: audio 32 / 0.40 / 64, text 4 / 0.40 / 24.
// resp_1: cached 400 of 800 input → audio 400·300/800 = 150, text 250.
//   150·32 + 150·0.40 + 250·4 + 250·0.40 + 200·64 + 40·24 = 4800 + 60 + 1000 + 100 + 12800 + 960 = 19720
// resp_2: cached 2000 of 4000 → audio 1500, text 500.
//   1500·32 + 1500·0.40 + 500·4 + 500·0.40 + 500·64 + 60·24 = 48000 + 600 + 2000 + 200 + 32000 + 1440 = 84240
const RESP_1_USD = 19_720 / 1e6;
const RESP_2_USD = 84_240 / 1e6;

const EXPECTED: CallRecord = {
  callSid: SID,
  streamSid: "MZ0001",
  persona: "sam",
  model: "gpt-realtime-2.1",
  engine: "realtime",
  direction: "outbound-api",
  source: "phone",
  from: "+14155550100",
  to: "+14155550111",
  parameters: { campaign: "spring", lang: "en", persona: "sam" },
  status: "in-progress",
  createdAt: 1_000,
  startedAt: 2_100,
  upstreamConnectMs: 180.5,
  sessionConfiguredAt: 2_300,
  endedAt: 62_100,
  durationMs: 60_000,
  endReason: "caller_hung_up",
  endDetail: "stop received",
  usage: {
    inputTextTokens: 1_500,
    inputAudioTokens: 3_300,
    inputCachedTokens: 2_400,
    outputTextTokens: 100,
    outputAudioTokens: 700,
    responses: 2,
  },
  minutes: 0,
  maxUnplayedMs: null,
  reconnects: 0,
  maxReconnectGapMs: null,
  callerFramesDropped: null,
  costUsd: RESP_1_USD + RESP_2_USD,
  afterStream: null,
  transferTarget: null,
  instance: "local",
  statuses: [
    { at: 1_600, status: "ringing", detail: "" },
    { at: 2_000, status: "in-progress", detail: "answered by human" },
  ],
  transcript: [
    { at: 3_000, speaker: "agent", text: "Hello, this is Sam.", interruptedAtMs: null, spokenAt: null },
    {
      at: 5_000,
      speaker: "caller",
      text: "Hi, I need a table for two.",
      interruptedAtMs: null,
      spokenAt: null,
    },
    { at: 6_600, speaker: "agent", text: "Sure, for what time", interruptedAtMs: 1_200, spokenAt: 5_900 },
    { at: 60_000, speaker: "caller", text: "Bye.", interruptedAtMs: null, spokenAt: null },
  ],
  turns: [
    { at: 3_000, firstAudioSentMs: 400, firstAudioHeardMs: 520 },
    { at: 5_400, firstAudioSentMs: 300, firstAudioHeardMs: null },
    { at: 7_000, firstAudioSentMs: 250, firstAudioHeardMs: 900 },
    { at: 9_000, firstAudioSentMs: 200, firstAudioHeardMs: 610 },
  ],
  // Heard, else sent: 520, 300, 900, 610 → sorted 300, 520, 610, 900.
  // Nearest rank: p50 = ⌈0.5·4⌉ = 2nd = 520; p95 = ⌈0.95·4⌉ = 4th = 900.
  latency: { turns: 4, p50Ms: 520, p95Ms: 900 },
  interruptions: [{ at: 6_500, itemId: "item_2", audioEndMs: 1_200, clearLatencyMs: 85 }],
  responses: [
    {
      at: 9_100,
      model: "gpt-realtime-2.1",
      responseId: "resp_1",
      usage: {
        inputTextTokens: 500,
        inputAudioTokens: 300,
        inputCachedTokens: 400,
        outputTextTokens: 40,
        outputAudioTokens: 200,
      },
      costUsd: RESP_1_USD,
    },
    {
      at: 9_200,
      model: "gpt-realtime-2.1",
      responseId: "resp_2",
      usage: {
        inputTextTokens: 1_000,
        inputAudioTokens: 3_000,
        inputCachedTokens: 2_000,
        outputTextTokens: 60,
        outputAudioTokens: 500,
      },
      costUsd: RESP_2_USD,
    },
  ],
  toolCalls: [],
  eventSeq: 0,
};

/** Floats summed in a different order differ in the last bits: compare cost within a nano-dollar. */
function assertRecord(actual: CallRecord | undefined, expected: CallRecord): void {
  assert.ok(actual !== undefined, "record not found");
  assert.ok(
    Math.abs((actual.costUsd ?? NaN) - (expected.costUsd ?? NaN)) < 1e-9,
    `costUsd ${actual.costUsd}`,
  );
  assert.deepEqual({ ...actual, costUsd: 0 }, { ...expected, costUsd: 0 });
}

Deno.test("call store records a scripted call exactly", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "parley_store_" });
  try {
    const path = callDatabasePath(`${dir}/nested/data/`);
    assert.equal(path, `${dir}/nested/data/parley.db`);

    await t.step("creates the folder, the file and the schema version", () => {
      const store = openCallStore(path);
      store.close();
      assert.ok(Deno.statSync(path).isFile);
      const db = new DatabaseSync(path);
      try {
        assert.equal(
          (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
          SCHEMA_VERSION,
        );
        assert.equal(SCHEMA_VERSION, 16);
        assert.equal(
          (db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode,
          "wal",
        );
      } finally {
        db.close();
      }
    });

    await t.step("merges every event of the call into one record", async () => {
      const store = openCallStore(path);
      try {
        for (const event of scriptedCall()) store.record(event);
        assertRecord(await store.getCall(SID), EXPECTED);
        assert.equal(await store.getCall("CA_unknown"), undefined);
      } finally {
        store.close();
      }
    });

    await t.step("finds the record again after reopening the file", async () => {
      const store = openCallStore(path);
      try {
        assertRecord(await store.getCall(SID), EXPECTED);
      } finally {
        store.close();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("call store writes listened events to the file within the flush delay, before a crash", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_store_" });
  const path = `${dir}/parley.db`;
  // The writer is never closed while we read: what a crashed process leaves behind.
  const writer = openCallStore(path);
  const reader = new DatabaseSync(path, { readOnly: true });
  const second = openCallStore(path);
  try {
    const events = scriptedCall().filter((e) => e.type !== "call.ended");
    for (const event of events) writer.listener(event);
    // The contract under test is time itself: events reach the file within FLUSH_DELAY_MS.
    await new Promise((resolve) => setTimeout(resolve, FLUSH_DELAY_MS + 30));
    const row = reader.prepare("SELECT persona, ended_at FROM calls WHERE call_sid = ?").get(SID);
    assert.deepEqual({ ...row }, { persona: "sam", ended_at: null });
    const lines = reader.prepare("SELECT text FROM transcript WHERE call_sid = ? ORDER BY id").all(SID);
    assert.deepEqual(lines.map((l) => l.text), [
      "Hello, this is Sam.",
      "Hi, I need a table for two.",
      "Sure, for what time",
      "Bye.",
    ]);
    const record = await second.getCall(SID);
    assert.equal(record?.transcript.length, 4);
    assert.equal(record?.endedAt, null);
    assert.equal(record?.durationMs, null);
    assert.deepEqual(record?.latency, { turns: 4, p50Ms: 520, p95Ms: 900 });
  } finally {
    second.close();
    reader.close();
    writer.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a read of one call writes that call's waiting events first, and leaves other calls' to their batch", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_store_" });
  const path = `${dir}/parley.db`;
  const store = openCallStore(path);
  const reader = new DatabaseSync(path, { readOnly: true });
  const OTHER = "CA00000000000000000000000000000002";
  const onFile = (callSid: string) =>
    reader.prepare("SELECT COUNT(*) AS n FROM calls WHERE call_sid = ?").get(callSid)?.n;
  try {
    for (const event of scriptedCall().filter((e) => e.type !== "call.ended")) store.listener(event);
    // A call the queue does not hold (a new CallSid at its webhook, say): read without writing the batch.
    assert.equal(await store.getCall(OTHER), undefined);
    assert.equal(await store.isOpenCall(OTHER), false);
    assert.equal(await store.afterStreamDecision(OTHER), undefined);
    assert.equal(onFile(SID), 0, "another call's read wrote the batch before its time");
    // The call's own read sees its every event: the batch is written first.
    const record = await store.getCall(SID);
    assert.equal(record?.transcript.length, 4);
    assert.equal(onFile(SID), 1);
    // Once written, an event of a call read next is written first again.
    store.listener({ type: "call.ended", at: 9_000, callSid: SID, reason: "caller_hung_up", detail: "" });
    assert.equal(await store.isOpenCall(SID), false);
    assert.notEqual(reader.prepare("SELECT ended_at FROM calls WHERE call_sid = ?").get(SID)?.ended_at, null);
  } finally {
    reader.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("call store keeps what a call came through: phone unless its webhook says softphone or rehearsal", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_store_" });
  const store = openCallStore(`${dir}/parley.db`);
  try {
    const webhook = (callSid: string, source?: "softphone" | "rehearsal"): CallEvent => ({
      type: "call.webhook",
      at: 1_000,
      callSid,
      persona: "sam",
      direction: "inbound",
      ...(source === undefined ? {} : { source }),
      from: "+14155550100",
      to: "+14155550111",
      parameters: {},
    });
    store.record(webhook("CA_phone"));
    store.record(webhook("CA_soft", "softphone"));
    store.record(webhook("CA_rehearsal", "rehearsal"));
    store.record({
      type: "call.started",
      at: 2_000,
      callSid: "CA_placed",
      streamSid: "MZ1",
      persona: "sam",
      model: "gpt-realtime-2.1",
      parameters: {},
    });
    assert.deepEqual(
      await Promise.all(
        ["CA_phone", "CA_soft", "CA_rehearsal", "CA_placed"].map(async (sid) =>
          (await store.getCall(sid))?.source
        ),
      ),
      ["phone", "softphone", "rehearsal", "phone"],
    );
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("call store lists calls newest first with persona and since filters", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "parley_store_" });
  const store = openCallStore(`${dir}/parley.db`);
  try {
    for (const event of scriptedCall()) store.record(event);
    store.record({
      type: "call.started",
      at: 100_000,
      callSid: "CA2",
      streamSid: "MZ2",
      persona: "alex",
      model: "gpt-future",
      parameters: {},
    });
    store.record({
      type: "usage",
      at: 100_500,
      callSid: "CA2",
      model: "gpt-future",
      engine: "realtime",
      usage: {
        responseId: "resp_x",
        inputTextTokens: 10,
        inputAudioTokens: 10,
        inputCachedTokens: 0,
        outputTextTokens: 10,
        outputAudioTokens: 10,
      },
    });
    store.record({
      type: "call.placed",
      at: 200_000,
      callSid: "CA3",
      persona: "alex",
      from: "+14155550100",
      to: "+14155550122",
      parameters: {},
    });
    store.record({ type: "call.status", at: 201_000, callSid: "CA3", status: "busy", detail: "" });

    await t.step("newest first", async () => {
      assert.deepEqual((await store.listCalls()).map((c) => c.callSid), ["CA3", "CA2", SID]);
    });
    await t.step("limit", async () => {
      assert.deepEqual((await store.listCalls({ limit: 2 })).map((c) => c.callSid), ["CA3", "CA2"]);
    });
    await t.step("persona", async () => {
      assert.deepEqual((await store.listCalls({ persona: "alex" })).map((c) => c.callSid), ["CA3", "CA2"]);
      assert.deepEqual((await store.listCalls({ persona: "sam" })).map((c) => c.callSid), [SID]);
    });
    await t.step("since is inclusive", async () => {
      assert.deepEqual((await store.listCalls({ since: 100_000 })).map((c) => c.callSid), ["CA3", "CA2"]);
    });
    await t.step("an unknown model costs null, not zero", async () => {
      const ca2 = (await store.listCalls({ persona: "alex" })).find((c) => c.callSid === "CA2");
      assert.equal(ca2?.costUsd, null);
      assert.equal((await store.getCall("CA2"))?.responses[0]?.costUsd, null);
    });
    await t.step("a call that never started has no duration and costs zero", async () => {
      const ca3 = await store.getCall("CA3");
      assert.equal(ca3?.status, "busy");
      assert.equal(ca3?.direction, "outbound-api");
      assert.equal(ca3?.durationMs, null);
      assert.equal(ca3?.costUsd, 0);
      assert.equal(ca3?.latency, null);
    });
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("call store listener logs instead of throwing once closed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_store_" });
  const errors: string[] = [];
  const store = openCallStore(`${dir}/parley.db`, { onError: (m) => errors.push(m) });
  store.close();
  try {
    store.listener({ type: "session.configured", at: 1, callSid: "CA9" });
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /could not record session\.configured for CallSid=CA9/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("call store refuses a database from a newer Parley", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_store_" });
  const path = `${dir}/parley.db`;
  const db = new DatabaseSync(path);
  db.exec("PRAGMA user_version = 99");
  db.close();
  try {
    assert.throws(
      () => openCallStore(path),
      new RegExp(`schema version 99 is newer than this Parley knows \\(${SCHEMA_VERSION}\\)`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("price overrides are validated with the model and field named", async (t) => {
  const fails = (json: string, pattern: RegExp) =>
    assert.throws(() => parsePriceOverrides(json), (error: unknown) => {
      assert.ok(error instanceof PriceConfigError);
      assert.match(error.message, pattern);
      return true;
    });

  await t.step("not JSON", () => fails("{", /^Invalid PRICES_JSON:\n {2}- not valid JSON: /));
  await t.step("not an object", () => fails("[1]", /expected an object of models.*got an array/));
  await t.step(
    "a model that is not an object",
    () => fails('{"gpt-realtime": 3}', /model "gpt-realtime": expected/),
  );
  await t.step("a price that is a string", () =>
    fails(
      '{"gpt-realtime-2.1": {"audioIn": "32"}}',
      /model "gpt-realtime-2\.1": field "audioIn" must be a non-negative number of USD per 1M tokens, got "32"/,
    ));
  await t.step(
    "a negative price",
    () => fails('{"gpt-realtime": {"textOut": -1}}', /field "textOut".*got -1/),
  );
  await t.step(
    "a misspelt field",
    () =>
      fails(
        '{"gpt-realtime": {"audioin": 1}}',
        /model "gpt-realtime": unknown field "audioin": use audioIn, /,
      ),
  );
  await t.step("a new model missing fields", () =>
    fails(
      '{"my-model": {"audioIn": 1}}',
      /model "my-model": not a built-in model, so every field is needed: missing audioCached, audioOut, textIn, textCached, textOut/,
    ));
  await t.step("every problem at once", () => {
    try {
      parsePriceOverrides('{"a": 1, "gpt-realtime": {"x": 1, "textIn": null}}');
      assert.fail("no error");
    } catch (error) {
      assert.ok(error instanceof PriceConfigError);
      assert.equal(error.problems.length, 3);
    }
  });

  await t.step("a partial override keeps the other prices", () => {
    const prices = parsePriceOverrides('{"gpt-realtime-2.1": {"textOut": 20}}');
    assert.deepEqual(prices["gpt-realtime-2.1"], { ...DEFAULT_PRICES["gpt-realtime-2.1"], textOut: 20 });
    assert.deepEqual(prices["gpt-realtime-mini"], DEFAULT_PRICES["gpt-realtime-mini"]);
    assert.equal(pricesFor("gpt-realtime-2.1")?.textOut, 24);
  });
  await t.step("a new model with all fields is priced", () => {
    const prices = resolvePrices(
      '{"my-model": {"audioIn": 1, "audioCached": 0, "audioOut": 2, "textIn": 3, "textCached": 0, "textOut": 4}}',
    );
    const usage = {
      inputTextTokens: 1e6,
      inputAudioTokens: 1e6,
      inputCachedTokens: 0,
      outputTextTokens: 1e6,
      outputAudioTokens: 1e6,
    };
    assert.equal(estimateCost("my-model", usage, prices), 1 + 2 + 3 + 4);
    assert.equal(estimateCost("my-model", usage), null);
  });
  await t.step(
    "no overrides is the built-in table",
    () => assert.equal(resolvePrices(undefined), DEFAULT_PRICES),
  );
});

Deno.test("estimateCost prices known models and refuses to guess", () => {
  const audioOnly = {
    inputTextTokens: 0,
    inputAudioTokens: 1e6,
    inputCachedTokens: 0,
    outputTextTokens: 0,
    outputAudioTokens: 1e6,
  };
  assert.equal(estimateCost("gpt-realtime-mini", audioOnly), 10 + 20);
  assert.equal(estimateCost("gpt-realtime", audioOnly), 32 + 64);
  // A dated snapshot is priced as its base model.
  assert.equal(estimateCost("gpt-realtime-2025-08-28", audioOnly), 32 + 64);
  assert.equal(estimateCost("gpt-5-realtime", audioOnly), null);
  assert.equal(estimateCost("constructor", audioOnly), null);
  // Everything cached: all audio input at the cached rate.
  assert.equal(estimateCost("gpt-realtime-2", { ...audioOnly, inputCachedTokens: 1e6 }), 0.4 + 64);
  // Cached beyond the input is capped at the input.
  assert.equal(estimateCost("gpt-realtime-2", { ...audioOnly, inputCachedTokens: 5e6 }), 0.4 + 64);
});

Deno.test("prices per minute: GPT-Live built in, overridable with PRICES_JSON's perMinute form", async (t) => {
  await t.step("built in at $0.05 a minute, billed per second", () => {
    assert.equal(estimateMinuteCost("gpt-live-1.1", 2.5), 0.125);
    assert.equal(estimateMinuteCost("gpt-live-1", 1 / 60), 0.000833);
    assert.equal(estimateMinuteCost("gpt-realtime-2.1", 1), null, "a token-priced model has no minute price");
    assert.equal(
      estimateCost("gpt-live-1.1", {
        inputTextTokens: 1,
        inputAudioTokens: 1,
        inputCachedTokens: 0,
        outputTextTokens: 1,
        outputAudioTokens: 1,
      }),
      null,
      "a minute-priced model has no token price",
    );
  });
  await t.step("PRICES_JSON overrides a minute price and adds a new one", () => {
    const prices = parsePriceOverrides(
      '{"gpt-live-1.1": {"perMinute": 0.04}, "gpt-live-2": {"perMinute": 0.1}}',
    );
    assert.equal(estimateMinuteCost("gpt-live-1.1", 10, prices), 0.4);
    assert.equal(estimateMinuteCost("gpt-live-2", 10, prices), 1);
    assert.equal(estimateMinuteCost("gpt-live-1", 10, prices), 0.5);
  });
  await t.step("mixing the two forms is refused, naming the model and field", () => {
    assert.throws(
      () => parsePriceOverrides('{"gpt-live-1.1": {"audioIn": 1}, "gpt-realtime-2.1": {"perMinute": 1}}'),
      (error: unknown) => {
        assert.ok(error instanceof PriceConfigError);
        assert.deepEqual(error.problems, [
          'model "gpt-live-1.1": priced per minute, so only "perMinute" applies, not "audioIn"',
          'model "gpt-realtime-2.1": priced per token, so "perMinute" does not apply: use audioIn, audioCached, audioOut, textIn, textCached, textOut',
        ]);
        return true;
      },
    );
    assert.throws(
      () => parsePriceOverrides('{"gpt-live-2": {"perMinute": -1}}'),
      /"perMinute" must be a non-negative/,
    );
  });
});

Deno.test("call store upgrades a version-1 database: old calls keep their data, engine unknown, 0 minutes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_store_" });
  try {
    const path = `${dir}/parley.db`;
    const db = new DatabaseSync(path);
    db.exec(MIGRATIONS[0]!);
    db.exec("PRAGMA user_version = 1");
    db.prepare("INSERT INTO calls (call_sid, created_at, persona, model) VALUES (?, ?, ?, ?)").run(
      "CA00000000000000000000000000000001",
      1_000,
      "alex",
      "gpt-realtime-2.1",
    );
    db.close();
    const store = openCallStore(path);
    try {
      const record = (await store.getCall("CA00000000000000000000000000000001"))!;
      assert.equal(record.persona, "alex");
      assert.equal(record.engine, null);
      assert.equal(record.minutes, 0);
      assert.equal(record.maxUnplayedMs, null);
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("call store keeps a usage report as its engine describes it: GPT-Live's session time so far, priced per minute", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_store_" });
  try {
    const store = openCallStore(`${dir}/parley.db`);
    try {
      // Each GPT-Live report is the session's billed time so far (cumulative), in its own shape.
      for (const [at, seconds] of [[1_000, 60], [2_000, 150]] as const) {
        store.record({
          type: "usage",
          at,
          callSid: "CA_LIVE",
          model: "gpt-live-1.1",
          engine: "live",
          usage: { seconds },
        });
      }
      store.record({
        type: "call.ended",
        at: 3_000,
        callSid: "CA_LIVE",
        reason: "caller_hung_up",
        detail: "",
      });
      const record = (await store.getCall("CA_LIVE"))!;
      assert.equal(record.minutes, 2.5);
      assert.equal(
        record.costUsd,
        0.125,
        "2.5 minutes at gpt-live-1.1's $0.05 a minute, not the sum of reports",
      );
      assert.deepEqual(record.responses, [], "no answer-by-answer rows for an engine billed by time");
      assert.deepEqual(record.usage, {
        inputTextTokens: 0,
        inputAudioTokens: 0,
        inputCachedTokens: 0,
        outputTextTokens: 0,
        outputAudioTokens: 0,
        responses: 0,
      });
      assert.equal(record.model, "gpt-live-1.1");
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
