/**
 * Ctrl-C (SIGINT) or SIGTERM during `deno task rehearse`: the run stops, the call in progress is hung
 * up and its record closed in DATA_DIR (`server_shutdown`), a line says what was stopped, and the task
 * exits 130 (SIGINT) or 143 (SIGTERM). A second signal quits at once (`listenForStop`).
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { bothSessions } from "../../testing/rehearsal_script.ts";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { outputOf, type RehearseDir, whileTaskRuns, withRehearseDir } from "./_rehearse_cli.ts";
import { listenForStop, STOP_EXIT_CODES, type StopSignal } from "../../src/rehearsal/stop_signals.ts";
import { SIGNAL_DEBOUNCE_MS } from "../../src/shutdown.ts";

interface CallRow {
  call_sid: string;
  instance: string | null;
  started_at: number | null;
  ended_at: number | null;
  end_reason: string | null;
  end_detail: string | null;
}

function calls(database: string): CallRow[] {
  const db = new DatabaseSync(database, { readOnly: true });
  try {
    return db.prepare("SELECT call_sid, instance, started_at, ended_at, end_reason, end_detail FROM calls")
      .all() as unknown as CallRow[];
  } finally {
    db.close();
  }
}

/** Resolves once the call's record in DATA_DIR shows its stream started (the CLI writes in batches). */
async function recordStarted(database: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if (calls(database).some((row) => row.started_at !== null)) return;
    } catch { /* not created yet */ }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("the call's record never showed its start");
}

/** Spawns the task with two runs, waits for the first call to be in progress, and sends `signal`. */
async function stopMidCall(t: RehearseDir, signal: StopSignal) {
  const child = await t.spawn();
  await whileTaskRuns(
    child,
    (async () => {
      const { agent } = await bothSessions(t.realtime);
      await agent.waitFor("response.create");
      // The agent greets; the caller never hangs up: the call goes on until the signal.
      await agent.streamResponse({
        responseId: "r1",
        itemId: "i1",
        audio: toneBytes(200, 0x11),
        transcript: "Hello!",
      });
      await recordStarted(t.database);
    })(),
  );
  child.kill(signal);
  return await outputOf(child);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`${signal} during deno task rehearse hangs up, closes the call's record and exits ${STOP_EXIT_CODES[signal]}`, async () => {
    await withRehearseDir(async (t) => {
      const { code, out, err } = await stopMidCall(t, signal);
      assert.equal(code, STOP_EXIT_CODES[signal], `${out}\n${err}`);
      // The record is closed, by the shutdown of the Parley the task started: no second run began.
      const rows = calls(t.database);
      assert.equal(rows.length, 1, JSON.stringify(rows));
      const [row] = rows;
      assert.equal(row!.end_reason, "server_shutdown");
      assert.ok(row!.ended_at !== null && row!.ended_at >= row!.started_at!, "closed, at its end");
      assert.match(row!.instance ?? "", /^box-1\.rehearse-[0-9a-f]{8}$/);
      assert.equal(t.realtime.sessions.length, 2, "the caller's and the agent's sessions of the one call");
      assert.match(
        err,
        new RegExp(
          `⏹ ${signal}: stopping the rehearsal after 0 of 2 run\\(s\\); hanging up 1 call\\(s\\) in progress`,
        ),
      );
      assert.match(err, new RegExp(`⏹ Rehearsal stopped \\(${signal}\\): 1 call\\(s\\) hung up`));
      assert.doesNotMatch(out, /rehearsal cost/, "no report for a stopped rehearsal");
    }, 2);
  });
}

Deno.test("listenForStop: the first signal stops, one within the debounce is the same, a later one exits", async () => {
  const listeners = new Map<string, () => void>();
  const exits: number[] = [];
  let now = 1_000;
  const stop = listenForStop({
    addSignalListener: (signal, listener) => listeners.set(signal, listener),
    removeSignalListener: (signal) => listeners.delete(signal),
    exit: (code) => exits.push(code),
    onSecond: () => {},
    now: () => now,
  });
  assert.equal(stop.signal.aborted, false);
  listeners.get("SIGINT")!();
  assert.equal(await stop.requested, "SIGINT");
  assert.equal(stop.signal.aborted, true);
  now += SIGNAL_DEBOUNCE_MS / 2;
  listeners.get("SIGINT")!(); // the same Ctrl-C, delivered twice
  assert.deepEqual(exits, []);
  now += SIGNAL_DEBOUNCE_MS;
  listeners.get("SIGTERM")?.(); // SIGTERM is heard only off Windows
  listeners.get("SIGINT")!();
  assert.deepEqual(exits, Deno.build.os === "windows" ? [130] : [143, 130]);
  stop.remove();
  assert.equal(listeners.size, 0);
});
