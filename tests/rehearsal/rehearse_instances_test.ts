/**
 * Every `deno task rehearse` run has an instance name of its own (`<INSTANCE_ID>.rehearse-<8 hex>`):
 * a second rehearsal on the same DATA_DIR does not put back (and bill again) the first one's analyses
 * in flight. And a rehearsal starting closes the records a killed rehearsal of its INSTANCE_ID left
 * open once they have been silent longer than any rehearsal call lasts, and no other record.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { greetThenHangUp } from "../../testing/rehearsal_script.ts";
import { openAnalysisStore } from "../../src/store/sqlite/analyses.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";
import type { CallEvent } from "../../src/calls/call_events.ts";
import { LEFTOVER_END_DETAIL, LEFTOVER_SILENCE_MS } from "../../src/rehearsal/rehearsal_instances.ts";
import { outputOf, type RehearseDir, whileTaskRuns, withRehearseDir } from "./_rehearse_cli.ts";

const RUN_NAME = /^box-1\.rehearse-[0-9a-f]{8}$/;

/** One rehearsal run of one call that greets and hangs up; resolves with its call's instance name. */
async function rehearseOnce(t: RehearseDir): Promise<{ instance: string; err: string }> {
  const before = t.realtime.sessions.length;
  const child = await t.spawn();
  await whileTaskRuns(child, greetThenHangUp(t.realtime, before));
  const { code, out, err } = await outputOf(child);
  assert.equal(code, 0, `${out}\n${err}`);
  const callSid = out.match(/hello run 1 \((CA[0-9a-f]{32})\)/)?.[1];
  assert.ok(callSid !== undefined, out);
  const store = openCallStore(t.database);
  try {
    return { instance: (await store.getCall(callSid))?.instance ?? "", err };
  } finally {
    store.close();
  }
}

Deno.test("a second deno task rehearse on one DATA_DIR leaves the first one's analyses in flight alone", async () => {
  await withRehearseDir(async (t) => {
    const first = await rehearseOnce(t);
    // The first rehearsal is still analysing a call when the second starts (another terminal, CI job).
    const IN_FLIGHT = `CA${"7".repeat(32)}`;
    const jobs = openAnalysisStore(t.database);
    try {
      await jobs.enqueue(IN_FLIGHT, {
        persona: "tester",
        model: "gpt-5-mini",
        schema: {},
        instructions: null,
      }, 0);
      assert.equal((await jobs.claim(first.instance, Date.now(), 1, 600_000)).length, 1);
    } finally {
      jobs.close();
    }
    const second = await rehearseOnce(t);
    const after = openAnalysisStore(t.database);
    try {
      const job = await after.get(IN_FLIGHT);
      assert.deepEqual([job?.state, job?.attempts], ["running", 1]);
    } finally {
      after.close();
    }
    assert.match(first.instance, RUN_NAME);
    assert.match(second.instance, RUN_NAME);
    assert.notEqual(second.instance, first.instance);
  });
});

const started = (callSid: string, at: number): CallEvent => ({
  type: "call.started",
  at,
  callSid,
  streamSid: `MZ${callSid.slice(2)}`,
  persona: "tester",
  model: "gpt-realtime-2.1",
  parameters: {},
});

Deno.test("deno task rehearse closes the records killed rehearsals left open, silent for longer than a call lasts", async () => {
  await withRehearseDir(async (t) => {
    const now = Date.now();
    const silent = now - LEFTOVER_SILENCE_MS - 60_000;
    const sid = (digit: number) => `CA${String(digit).repeat(32)}`;
    /** An open record of `instance`, started at `at`, with the agent's lines at `lines`. */
    const open = async (instance: string, digit: number, at: number, lines: number[] = []) => {
      const store = openCallStore(t.database, { instance });
      try {
        await store.record(started(sid(digit), at));
        for (const lineAt of lines) {
          await store.record({
            type: "transcript",
            at: lineAt,
            callSid: sid(digit),
            speaker: "agent",
            text: "Hi",
          });
        }
      } finally {
        store.close();
      }
    };
    await open("box-1.rehearse-deadbeef", 1, silent - 5_000, [silent, silent + 1_000]);
    await open("box-1.rehearse", 2, silent); // the one name all runs had before
    await open("box-1.rehearse-cafebabe", 3, silent); // a concurrent rehearsal's call, beating:
    const db = new DatabaseSync(t.database);
    db.prepare("UPDATE calls SET alive_at = ? WHERE call_sid = ?").run(now - 3_000, sid(3));
    db.close();
    await open("box-1.rehearse-12345678", 4, now - 12 * 60_000, [now - 10 * 60_000]); // killed 10 min ago
    await open("box-1", 5, silent); // the server's own: its startup's business
    await open("box-2.rehearse-0123abcd", 6, silent); // another INSTANCE_ID's rehearsal

    const { err } = await rehearseOnce(t);
    assert.match(err, /Closed 2 call record\(s\) an earlier rehearsal left open \(killed during the call/);
    const store = openCallStore(t.database);
    try {
      const record = async (digit: number) => {
        const call = await store.getCall(sid(digit));
        return [call?.endReason, call?.endedAt, call?.endDetail];
      };
      assert.deepEqual(await record(1), ["server_crashed", silent + 1_000, LEFTOVER_END_DETAIL]);
      assert.deepEqual(await record(2), ["server_crashed", silent, LEFTOVER_END_DETAIL]);
      for (const left of [3, 4, 5, 6]) {
        assert.deepEqual(await record(left), [null, null, null], `call ${left}`);
      }
    } finally {
      store.close();
    }
  });
});
