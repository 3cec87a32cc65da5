/**
 * The disk is bookkeeping: a database locked by another process or a full disk under DATA_DIR never
 * crashes the server, never stalls the event loop for long, and never ends a call; the events wait in
 * a bounded queue and land once the disk takes them again. Absurd token counts are stored as an
 * error, and records a crashed run left open are closed on the next start.
 */

import { canMountTinyDisk, fillDisk, tinyDisk, unmountTinyDisk } from "../../testing/tiny_disk.ts";
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { BUSY_TIMEOUT_MS, openCallStore } from "../../src/store/sqlite/call_store.ts";

const TESTDATA_PERSONAS = new URL("../testdata/personas/", import.meta.url).pathname;

/** Collects the store's reports and resolves waiters on a matching one. */
function reports() {
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  return {
    lines,
    onError: (line: string) => {
      lines.push(line);
      for (const w of waiters.filter((w) => w.pattern.test(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    },
    waitFor(pattern: RegExp): Promise<string> {
      const found = lines.find((l) => pattern.test(l));
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ pattern, resolve }));
    },
  };
}

/** The longest gap between timer ticks every 5 ms while `body` runs: how long the event loop stalled. */
async function longestStall(body: () => Promise<void>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 5);
  try {
    await body();
  } finally {
    clearInterval(ticker);
  }
  return longest;
}

/** Runs a call that talks both ways, hangs it up, and returns its CallSid. */
async function talkingCall(t: Awaited<ReturnType<typeof startTestParley>>, index: number): Promise<string> {
  const call = await t.startCall({ persona: "tester" });
  const session = await t.upstream.session(index);
  await session.waitFor("session.update");
  call.sendMedia(new Uint8Array(160).fill(9));
  await session.waitFor("input_audio_buffer.append");
  session.send({
    type: "conversation.item.input_audio_transcription.completed",
    item_id: "u1",
    transcript: "Hi",
  });
  await session.streamResponse({
    responseId: "r1",
    itemId: "i1",
    audio: toneBytes(100, 3),
    transcript: "Hello",
  });
  await call.waitFor("media");
  // Both lines of the transcript are events before the caller hangs up (on a loaded machine the
  // stop could otherwise overtake the agent's transcript).
  await t.waitForEvent("transcript", (e) => e.callSid === call.callSid && e.speaker === "agent");
  call.stop();
  await call.closed;
  await t.waitForEvent("call.ended", (e) => e.callSid === call.callSid);
  return call.callSid;
}

Deno.test("a write lock held on parley.db by another process neither stalls nor ends a call", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_lock_" });
  const report = reports();
  const store = openCallStore(`${dataDir}/parley.db`, { onError: report.onError, firstRetryMs: 20 });
  const t = await startTestParley({
    personasDir: TESTDATA_PERSONAS,
    env: { DEFAULT_PERSONA: "tester" },
    store,
  });
  const locker = new DatabaseSync(`${dataDir}/parley.db`);
  try {
    locker.exec("BEGIN EXCLUSIVE");
    let callSid = "";
    const stall = await longestStall(async () => {
      callSid = await talkingCall(t, 0);
      await report.waitFor(/cannot write/);
    });
    const failing = report.lines.filter((l) => /cannot write/.test(l));
    assert.equal(failing.length, 1, "logged once per episode");
    assert.match(failing[0]!, new RegExp(`DATA_DIR "${dataDir}".*database is locked.*calls go on`));
    assert.ok(stall < 250 + BUSY_TIMEOUT_MS * 5, `the event loop stalled ${stall.toFixed(0)} ms`);
    assert.ok(store.health().failing);
    assert.ok(store.health().pendingEvents > 0);

    const metrics = t.parley.metrics.render(t.counters, 0, { store: store.health() });
    assert.match(metrics, /parley_store_pending_events [1-9]/);

    locker.exec("COMMIT");
    await within(report.waitFor(/writes again/), "events written after the lock is released");
    const record = (await store.getCall(callSid))!;
    assert.equal(record.endReason, "caller_hung_up");
    assert.deepEqual(record.transcript.map((l) => l.text), ["Hi", "Hello"]);
    assert.deepEqual(store.health(), { pendingEvents: 0, droppedEvents: 0, failing: false });
  } finally {
    locker.close();
    await t.close();
    store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test({
  name:
    "a full disk under DATA_DIR neither crashes the server nor ends a call; events land once space is freed",
  ignore: !canMountTinyDisk, // needs root to mount a tmpfs; runs in CI and on this machine
  async fn() {
    const dataDir = (await tinyDisk(512))!;
    const report = reports();
    const store = openCallStore(`${dataDir}/parley.db`, { onError: report.onError, firstRetryMs: 20 });
    const t = await startTestParley({
      personasDir: TESTDATA_PERSONAS,
      env: { DEFAULT_PERSONA: "tester" },
      store,
    });
    try {
      // Fill the disk to the last byte.
      await fillDisk(`${dataDir}/filler`);
      // Enough events that the WAL must grow.
      const callSid = await talkingCall(t, 0);
      for (let i = 0; i < 200; i++) {
        t.hub.emit({ type: "transcript", at: Date.now(), callSid, speaker: "caller", text: "x".repeat(500) });
      }
      await report.waitFor(/cannot write/);
      assert.match(report.lines.find((l) => /cannot write/.test(l))!, /database or disk is full/);
      assert.equal(t.parley.activeCalls(), 0);

      const second = await t.startCall({ persona: "tester" });
      const session = await t.upstream.session(1);
      await session.waitFor("session.update");
      await session.streamResponse({ responseId: "r9", itemId: "i9", audio: toneBytes(60, 5) });
      await second.waitFor("media");
      second.stop();
      await second.closed;

      await Deno.remove(`${dataDir}/filler`);
      await within(report.waitFor(/writes again/), "events written once space is freed");
      assert.equal((await store.getCall(callSid))!.transcript.length, 202);
      assert.equal((await store.getCall(second.callSid))!.endReason, "caller_hung_up");
    } finally {
      await t.close();
      store.close();
      await unmountTinyDisk(dataDir);
    }
  },
});

Deno.test("the store's queue is bounded: the oldest events are dropped and counted while writes fail", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_bound_" });
  const report = reports();
  const store = openCallStore(`${dataDir}/parley.db`, {
    onError: report.onError,
    maxPendingEvents: 100,
    firstRetryMs: 20,
  });
  const locker = new DatabaseSync(`${dataDir}/parley.db`);
  try {
    locker.exec("BEGIN EXCLUSIVE");
    for (let i = 0; i < 150; i++) {
      store.listener({ type: "transcript", at: i, callSid: "CA1", speaker: "caller", text: `line ${i}` });
    }
    await report.waitFor(/cannot write/);
    assert.deepEqual(store.health(), { pendingEvents: 100, droppedEvents: 50, failing: true });
    locker.exec("COMMIT");
    assert.match(await report.waitFor(/writes again/), /100 event\(s\) written, 50 dropped/);
    assert.deepEqual((await store.getCall("CA1"))!.transcript.map((l) => l.text).slice(0, 2), [
      "line 50",
      "line 51",
    ]);
  } finally {
    locker.close();
    store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("absurd token counts are stored as an unpriced response, not a failed write", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_tokens_" });
  const report = reports();
  const store = openCallStore(`${dataDir}/parley.db`, { onError: report.onError });
  try {
    const usage = {
      inputTextTokens: 1e300,
      inputAudioTokens: 10,
      inputCachedTokens: 0,
      outputTextTokens: 5,
      outputAudioTokens: -1,
    };
    store.listener({
      type: "usage",
      at: 1,
      callSid: "CA2",
      model: "gpt-realtime-2.1",
      engine: "realtime",
      usage: { ...usage, responseId: "r1" },
    });
    store.listener({ type: "call.ended", at: 2, callSid: "CA2", reason: "caller_hung_up", detail: "" });
    const record = (await store.getCall("CA2"))!;
    assert.equal(record.responses.length, 1);
    assert.equal(record.responses[0]!.costUsd, null);
    assert.equal(record.costUsd, null, "unknown is not free");
    assert.equal(record.usage.inputAudioTokens, 10);
    assert.equal(record.usage.inputTextTokens, 0);
    assert.equal(record.endReason, "caller_hung_up", "the rest of the batch was written");
    assert.match(
      report.lines.join("\n"),
      /response r1 of CallSid=CA2 reported impossible token counts \(inputTextTokens=1e\+300, outputAudioTokens=-1\)/,
    );
  } finally {
    store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a crashed run's record ends at its last heartbeat: a quiet 1.8 s call shows 1.8 s, not 0", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_heartbeat_" });
  try {
    let clock = 1_000;
    let beat!: () => void;
    const beaten = new Promise<void>((resolve) => beat = resolve);
    const crashed = openCallStore(`${dataDir}/parley.db`, {
      heartbeatMs: 20,
      wallClock: () => {
        if (clock > 1_000) beat();
        return clock;
      },
    });
    crashed.listener({
      type: "call.started",
      at: 1_000,
      callSid: "CA_QUIET",
      streamSid: "MZ1",
      persona: "tester",
      model: "gpt-realtime-2.1",
      parameters: {},
    });
    // Nothing more happens on the call: 1.8 s later the process dies.
    clock = 2_800;
    await within(beaten, "a heartbeat at 2.8 s");
    const next = openCallStore(`${dataDir}/parley.db`);
    try {
      assert.deepEqual(
        await next.closeAbandonedRecords("server_crashed", "the server stopped during the call"),
        [
          "CA_QUIET",
        ],
      );
      const record = (await next.getCall("CA_QUIET"))!;
      assert.equal(record.endReason, "server_crashed");
      assert.equal(record.endedAt, 2_800);
      assert.equal(record.durationMs, 1_800);
    } finally {
      next.close();
      crashed.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("records a crashed run left open are closed as server_crashed at their last event", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_crash_" });
  try {
    const crashed = openCallStore(`${dataDir}/parley.db`);
    crashed.record({
      type: "call.started",
      at: 1_000,
      callSid: "CA_OPEN",
      streamSid: "MZ1",
      persona: "tester",
      model: "gpt-realtime-2.1",
      parameters: {},
    });
    crashed.record({ type: "transcript", at: 5_000, callSid: "CA_OPEN", speaker: "caller", text: "Hello?" });
    crashed.record({
      type: "call.started",
      at: 1_000,
      callSid: "CA_DONE",
      streamSid: "MZ2",
      persona: "tester",
      model: "m",
      parameters: {},
    });
    crashed.record({
      type: "call.ended",
      at: 2_000,
      callSid: "CA_DONE",
      reason: "caller_hung_up",
      detail: "",
    });
    // No close(): the process died.

    const next = openCallStore(`${dataDir}/parley.db`);
    try {
      assert.deepEqual(
        await next.closeAbandonedRecords("server_crashed", "the server stopped during the call"),
        [
          "CA_OPEN",
        ],
      );
      const record = (await next.getCall("CA_OPEN"))!;
      assert.equal(record.endReason, "server_crashed");
      assert.equal(record.endedAt, 5_000);
      assert.equal(record.durationMs, 4_000);
      assert.equal((await next.getCall("CA_DONE"))!.endReason, "caller_hung_up");
      assert.deepEqual(await next.closeAbandonedRecords("server_crashed", ""), []);
    } finally {
      next.close();
      crashed.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
