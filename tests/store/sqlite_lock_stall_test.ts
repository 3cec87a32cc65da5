/**
 * Another process holding the write lock on `parley.db` (a rehearsal on the same `DATA_DIR`, an admin
 * tool) stalls the server's event loop, and so every call's audio, for no more than the call store's
 * busy timeout (20 ms) per write: `node:sqlite` is synchronous, and every connection on the event loop
 * (analyses, campaigns, leads, the webhook outbox) has the same bound. A write the lock refuses is a
 * failure the worker logs once and tries again later, and nothing is lost: the analysis is done once
 * the lock is released.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { runCall, startParley, withRig } from "../analysis/_analysis_rig.ts";
import { BUSY_TIMEOUT_MS, callDatabasePath } from "../../src/store/sqlite/call_store.ts";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import type { CampaignInput } from "../../src/store/campaign.ts";
import type { FakeResponsesServer, ScriptedFailure } from "../../testing/fake_responses.ts";
import { watchLoopLag } from "../../testing/loop_lag.ts";
import { within } from "../../testing/within.ts";

const OUTCOME = { interested: true, meetingDay: "Tuesday", objections: [] };

/**
 * The longest the event loop may stall while the lock is held, ms: a few busy timeouts, and room for a
 * loaded machine; far below the second a 1 s busy timeout stalled it for.
 */
const MAX_STALL_MS = 250;

/** Parley over the rig's SQLite store, and a second connection that can lock its `parley.db`. */
async function withLockableParley(
  failures: ScriptedFailure[],
  body: (
    rig: Awaited<ReturnType<typeof startParley>>,
    locker: DatabaseSync,
    fake: FakeResponsesServer,
  ) => Promise<void>,
): Promise<void> {
  await withRig(failures, OUTCOME, async (fake, dir, dataDir) => {
    const rig = await startParley(dir, dataDir, fake);
    const locker = new DatabaseSync(callDatabasePath(dataDir));
    try {
      await body(rig, locker, fake);
    } finally {
      if (locker.isTransaction) locker.exec("ROLLBACK");
      locker.close();
      await rig.close();
    }
  });
}

/** The analysis row of `callSid`, read over `db` (a reader is never refused in WAL mode). */
function analysisRow(db: DatabaseSync, callSid: string) {
  const row = db.prepare("SELECT state, attempts, next_try_at FROM analyses WHERE call_sid = ?").get(callSid);
  assert.ok(row !== undefined, `the analysis of ${callSid} is stored`);
  return { state: String(row.state), attempts: Number(row.attempts), nextTryAt: Number(row.next_try_at) };
}

function lines(rig: Awaited<ReturnType<typeof startParley>>, pattern: RegExp): string[] {
  return rig.t.logs.filter((l) => pattern.test(l.line)).map((l) => l.line);
}

Deno.test("a due analysis whose claim meets a write lock on parley.db stalls no call's audio, and is done once the lock is released", async () => {
  // The first try meets a 429 asking for 1.5 s: the analysis is pending, due while the lock is held.
  await withLockableParley([{ status: 429, retryAfterMs: 1_500 }], async (rig, locker, fake) => {
    const callSid = await runCall(rig.t);
    await within(
      rig.t.waitForLog(
        new RegExp(`Analysis try 1 of \\d+ failed for CallSid=${callSid}: .*next try in 1500 ms`),
      ),
      "the first try's 429",
      15_000,
    );
    locker.exec("BEGIN IMMEDIATE");
    const lag = watchLoopLag();
    let stalledMs: number;
    try {
      const due = analysisRow(locker, callSid).nextTryAt;
      // The span measured: the claim of the due analysis, and the retries of that claim, under the lock.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now()) + 3_500));
      stalledMs = lag.take();
    } finally {
      lag.stop();
    }
    assert.ok(
      stalledMs < MAX_STALL_MS,
      `the event loop stalled ${
        stalledMs.toFixed(0)
      } ms while parley.db was locked (busy timeout ${BUSY_TIMEOUT_MS} ms)`,
    );
    assert.deepEqual(
      lines(rig, /Analysis: cannot claim/).map((l) => l.replace(/^.*(Analysis: )/, "$1")),
      ["Analysis: cannot claim analyses: database is locked; trying again after 1 s, doubling to 5 s"],
      "the refused claim is logged once",
    );
    assert.deepEqual(
      [analysisRow(locker, callSid).state, analysisRow(locker, callSid).attempts],
      ["pending", 1],
      "nothing was claimed under the lock",
    );

    locker.exec("COMMIT");
    const analyzed = await within(
      rig.t.waitForEvent("call.analyzed"),
      "the analysis, once the lock is released",
      15_000,
    );
    assert.equal(analyzed.callSid, callSid);
    assert.equal(analyzed.state, "done");
    assert.deepEqual(analyzed.outcome, OUTCOME);
    await within(rig.t.waitForLog(/Analysis: claims again after [\d.]+ s$/), "the recovery, logged");
    assert.deepEqual([analysisRow(locker, callSid).state, analysisRow(locker, callSid).attempts], [
      "done",
      2,
    ]);
    assert.equal(fake.requests.length, 2, "OpenAI was asked once more after the 429, no more");
  });
});

Deno.test("an outcome, and the claim after it, that meet a write lock on parley.db stall no call's audio; the analysis is done once the lock is released", async () => {
  await withLockableParley([], async (rig, locker, fake) => {
    // The answer comes while another process holds the write lock: the outcome cannot be written.
    fake.script = () => {
      locker.exec("BEGIN IMMEDIATE");
      return OUTCOME;
    };
    const lag = watchLoopLag();
    let outcomeStallMs: number;
    let claimStallMs: number;
    let callSid: string;
    try {
      callSid = await runCall(rig.t);
      await within(
        rig.t.waitForLog(new RegExp(`Analysis: cannot store the outcome of ${callSid}: database is locked`)),
        "the outcome's refusal",
        15_000,
      );
      outcomeStallMs = lag.take();
      assert.ok(
        outcomeStallMs < MAX_STALL_MS,
        `the outcome's write stalled the event loop ${outcomeStallMs.toFixed(0)} ms`,
      );
      // The analysis over, the worker claims what else is due: that claim meets the lock too.
      await within(
        rig.t.waitForLog(/Analysis: cannot claim analyses: database is locked/),
        "the claim's refusal",
      );
      claimStallMs = lag.take();
    } finally {
      lag.stop();
    }
    assert.ok(claimStallMs < MAX_STALL_MS, `the claim stalled the event loop ${claimStallMs.toFixed(0)} ms`);

    locker.exec("COMMIT");
    const analyzed = await within(rig.t.waitForEvent("call.analyzed"), "the outcome, stored", 15_000);
    assert.equal(analyzed.callSid, callSid);
    assert.equal(analyzed.state, "done");
    assert.deepEqual(analyzed.outcome, OUTCOME);
    await within(rig.t.waitForLog(/Analysis: stored again after/), "the outcome's recovery, logged");
    await within(rig.t.waitForLog(/Analysis: claims again after/), "the claims' recovery, logged", 15_000);
    assert.equal(lines(rig, /Analysis: cannot (store|claim)/).length, 2, "each refusal logged once");
    assert.deepEqual([analysisRow(locker, callSid).state, analysisRow(locker, callSid).attempts], [
      "done",
      1,
    ]);
    assert.equal(fake.requests.length, 1, "OpenAI was asked once (billed once)");
  });
});

Deno.test("a restart while parley.db is locked stalls no call's audio; the previous run's analysis goes again once the lock is released", async () => {
  await withRig([], OUTCOME, async (fake, dir, dataDir) => {
    const first = await startParley(dir, dataDir, fake);
    let callSid: string;
    let instance: string;
    try {
      callSid = await runCall(first.t);
      await within(first.t.waitForEvent("call.analyzed"), "the first run's analysis", 15_000);
      instance = first.t.config.instanceId;
    } finally {
      await first.close();
    }
    const locker = new DatabaseSync(callDatabasePath(dataDir));
    let rig: Awaited<ReturnType<typeof startParley>> | undefined;
    try {
      // As if the first run had been killed while OpenAI was answering: the analysis is claimed by it.
      locker.prepare(
        `UPDATE analyses SET state = 'running', claimed_by = ?, claimed_until = ?, outcome = NULL, usage = NULL,
           cost_usd = NULL WHERE call_sid = ?`,
      ).run(instance, Date.now() + 300_000, callSid);
      locker.exec("BEGIN IMMEDIATE");
      const lag = watchLoopLag();
      let stalledMs: number;
      let refusal: string;
      try {
        rig = await startParley(dir, dataDir, fake);
        // Putting back the first run's claims meets the lock.
        refusal = await within(
          rig.t.waitForLog(/Analysis: (cannot claim|could not start)/),
          "the start's refusal, logged",
        );
        stalledMs = lag.take();
      } finally {
        lag.stop();
      }
      assert.ok(stalledMs < MAX_STALL_MS, `the start stalled the event loop ${stalledMs.toFixed(0)} ms`);
      assert.match(refusal, /Analysis: cannot claim analyses: database is locked; trying again after 1 s/);

      locker.exec("COMMIT");
      await within(
        rig.t.waitForLog(/Analysis: 1 analysis\(es\) a previous run left unfinished go again/),
        "the first run's claim, put back",
        15_000,
      );
      const analyzed = await within(rig.t.waitForEvent("call.analyzed"), "the analysis, run again", 15_000);
      assert.equal(analyzed.callSid, callSid);
      assert.equal(analyzed.state, "done");
      assert.deepEqual(analyzed.outcome, OUTCOME);
      assert.equal(lines(rig, /Analysis: (cannot claim|could not start)/).length, 1, "logged once");
      assert.equal(fake.requests.length, 2, "asked once per run");
    } finally {
      if (locker.isTransaction) locker.exec("ROLLBACK");
      locker.close();
      await rig?.close();
    }
  });
});

const CAMPAIGN: CampaignInput = {
  name: "Locked",
  persona: "lead",
  voice: undefined,
  parameters: {},
  window: {
    timezone: "UTC",
    days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    start: "00:00",
    end: "23:59",
  },
  maxConcurrent: 2,
  callsPerSecond: 1,
  retry: {
    "completed": { after: 0, max: 0 },
    "no-answer": { after: 60, max: 2 },
    "busy": { after: 15, max: 3 },
    "failed": { after: 30, max: 1 },
    "voicemail_left": { after: 0, max: 0 },
    "do_not_call": { after: 0, max: 0 },
  },
  machineDetection: false,
};

Deno.test("every SQLite store on the event loop gives up on a held write lock within the call store's busy timeout, as a rejection", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_lock_stall_" });
  const path = callDatabasePath(dataDir);
  const store = openSqliteStore(path, { instance: "lock-test", onError: () => {} });
  const locker = new DatabaseSync(path);
  try {
    const at = Date.now();
    const spec = { persona: "lead", model: "gpt-5-mini", schema: {}, instructions: null };
    const campaign = await store.campaigns!.create(CAMPAIGN, [
      { leadId: null, name: "Dana", phone: "+14155550100", timezone: null, fields: {} },
    ], "running");
    const writes: [string, () => Promise<unknown>][] = [
      ["analyses.enqueue", () => store.analyses!.enqueue("CAlocked", spec, at)],
      ["analyses.claim", () => store.analyses!.claim("lock-test", at, 2, 60_000)],
      ["analyses.release", () => store.analyses!.release("lock-test", at)],
      ["campaigns.claim", () => store.campaigns!.claim(campaign.id, at, 1, "lock-test")],
      ["campaigns.releaseClaims", () => store.campaigns!.releaseClaims("lock-test")],
      ["campaigns.create", () => store.campaigns!.create(CAMPAIGN, [], "running")],
      ["doNotCall.add", () => store.doNotCall!.add(["+14155550199"], "test", at)],
      [
        "leads.create",
        () =>
          store.leads!.create([{ name: "Ada", phone: "+14155550101", company: "", notes: "", fields: {} }]),
      ],
      [
        "outbox.enqueue",
        () =>
          store.outbox!.enqueue({
            id: "msg_locked",
            type: "call.ended",
            callSid: "CAlocked",
            payload: "{}",
            at,
            expiresAt: at + 60_000,
          }),
      ],
      ["outbox.claimDue", () => store.outbox!.claimDue("lock-test", at, 2, 60_000)],
    ];
    locker.exec("BEGIN IMMEDIATE");
    const refusals: { name: string; tookMs: number; error: unknown; thrown: boolean }[] = [];
    for (const [name, write] of writes) {
      const started = performance.now();
      let answer: Promise<unknown> | undefined;
      let thrown: unknown;
      try {
        answer = write();
      } catch (error) {
        thrown = error;
      }
      const error = answer === undefined
        ? thrown
        : await answer.then(() => undefined, (error: unknown) => error);
      refusals.push({ name, tookMs: performance.now() - started, error, thrown: answer === undefined });
    }
    for (const { name, tookMs } of refusals) {
      assert.ok(tookMs < MAX_STALL_MS, `${name} blocked the event loop ${tookMs.toFixed(0)} ms`);
    }
    for (const { name, error, thrown } of refusals) {
      assert.match(String(error), /database is locked/, `${name} is refused under the lock`);
      assert.ok(!thrown, `${name} threw at its caller instead of rejecting`);
    }
    locker.exec("COMMIT");
    // Nothing is left broken: once the lock is released the same writes go through.
    assert.equal(await store.analyses!.enqueue("CAlocked", spec, at), true);
    assert.deepEqual((await store.analyses!.claim("lock-test", at, 2, 60_000)).map((j) => j.callSid), [
      "CAlocked",
    ]);
    assert.equal((await store.campaigns!.claim(campaign.id, at, 1, "lock-test")).length, 1);
    assert.equal(await store.doNotCall!.add(["+14155550199"], "test", at), 1);
  } finally {
    if (locker.isTransaction) locker.exec("ROLLBACK");
    locker.close();
    store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
