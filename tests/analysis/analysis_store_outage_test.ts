/**
 * A call that ends while the store cannot be written (another process holds the write lock on
 * `parley.db`, as a full disk or a Postgres restart would refuse writes too) is still analysed: the
 * analysis waits in memory, the wait is logged once, and it is queued once the store writes again.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { runCall, startParley, withRig } from "./_analysis_rig.ts";
import { callDatabasePath } from "../../src/store/sqlite/call_store.ts";
import { within } from "../../testing/within.ts";
import type { FakeResponsesServer } from "../../testing/fake_responses.ts";

const OUTCOME = { interested: true, meetingDay: "Tuesday", objections: [] };

/** Parley over the rig's SQLite store and a second connection that can lock `parley.db`; both closed after `body`. */
async function withLockableParley(
  body: (
    rig: Awaited<ReturnType<typeof startParley>>,
    locker: DatabaseSync,
    fake: FakeResponsesServer,
  ) => Promise<void>,
): Promise<void> {
  await withRig([], OUTCOME, async (fake, dir, dataDir) => {
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

Deno.test("a call that ends while parley.db is locked is analysed once the lock is released", async () => {
  await withLockableParley(async (rig, locker) => {
    locker.exec("BEGIN EXCLUSIVE");
    const callSid = await runCall(rig.t);
    await within(rig.t.waitForLog(/Analysis: cannot queue the analysis of/), "the wait is logged");
    locker.exec("COMMIT");
    const analyzed = await within(rig.t.waitForEvent("call.analyzed"), "the analysis", 15_000);
    assert.equal(analyzed.callSid, callSid);
    assert.equal(analyzed.state, "done");
    assert.deepEqual(analyzed.outcome, OUTCOME);
    await within(rig.t.waitForLog(/Analysis: queued again after/), "the recovery is logged");
    assert.equal(rig.t.logs.filter((l) => /Analysis: cannot queue/.test(l.line)).length, 1, "logged once");
  });
});

Deno.test("a call whose persona declares no analysis ends while parley.db is locked: the analysis waits for nothing", async () => {
  await withLockableParley(async (rig, locker) => {
    locker.exec("BEGIN EXCLUSIVE");
    const plain = await runCall(rig.t, "plain");
    locker.exec("COMMIT");
    // A call with an analysis afterwards: once it is analysed, the plain call's end was long handled.
    const lead = await runCall(rig.t);
    const analyzed = await within(rig.t.waitForEvent("call.analyzed"), "the analysis", 15_000);
    assert.equal(analyzed.callSid, lead);
    const waits = rig.t.logs.filter((l) => /Analysis: (cannot queue|queued again)/.test(l.line));
    assert.deepEqual(waits.map((l) => l.line), [], `nothing waited for the analysis of ${plain}`);
    assert.equal(rig.t.logs.filter((l) => l.line.includes(`Analysis queued: CallSid=${plain}`)).length, 0);
  });
});

Deno.test("an outcome the store cannot take when OpenAI answers is stored once it can: the analysis is asked for once", async () => {
  await withLockableParley(async (rig, locker, fake) => {
    // The answer comes while another process holds the write lock: the outcome cannot be written.
    fake.script = () => {
      locker.exec("BEGIN EXCLUSIVE");
      return OUTCOME;
    };
    const callSid = await runCall(rig.t);
    await within(
      rig.t.waitForLog(/Analysis: cannot store the outcome of CA\w+: /),
      "the wait is logged",
      15_000,
    );
    locker.exec("COMMIT");
    const analyzed = await within(rig.t.waitForEvent("call.analyzed"), "the outcome, stored", 15_000);
    assert.equal(analyzed.callSid, callSid);
    assert.equal(analyzed.state, "done");
    assert.deepEqual(analyzed.outcome, OUTCOME);
    const job = await rig.store.analyses!.get(callSid);
    assert.deepEqual([job?.state, job?.attempts], ["done", 1]);
    assert.equal(fake.requests.length, 1, "OpenAI was asked once (billed once)");
  });
});
