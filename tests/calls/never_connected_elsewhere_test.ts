/**
 * Several instances: a call placed (or answered) here may run on another instance. Before the
 * never-connected watch ends a call it waits on (its timeout, a final status, a shutdown) it reads
 * the shared record: a call that started or ended elsewhere is let go (its slot freed), not ended.
 */

import assert from "node:assert/strict";
import type { CallEvent } from "../../src/calls/call_events.ts";
import { CallHub } from "../../src/calls/call_hub.ts";
import { type RecordState, watchNeverConnected } from "../../src/calls/never_connected.ts";

const LIVE_ELSEWHERE = "CA" + "1".repeat(32);
const NOWHERE = "CA" + "2".repeat(32);
const RECORDS: Record<string, RecordState> = {
  [LIVE_ELSEWHERE]: { startedAt: 1, endedAt: null },
  [NOWHERE]: { startedAt: null, endedAt: null },
};

function placed(callSid: string): CallEvent {
  return {
    type: "call.placed",
    at: Date.now(),
    callSid,
    persona: "tester",
    from: "",
    to: "",
    parameters: {},
  };
}

/** A hub with the watch on it (shared records as given), and what it ended and let go. */
function watched(getCall: (callSid: string) => Promise<RecordState | undefined>) {
  const hub = new CallHub();
  const ends: CallEvent[] = [];
  const letGo: string[] = [];
  hub.subscribe((event) => {
    if (event.type === "call.ended") ends.push(event);
  });
  // A placed call's timer fires 50 ms after `call.placed` (no 600 s ring).
  const watch = watchNeverConnected(hub, {
    timeoutMs: 50,
    ringMs: 0,
    records: { getCall },
    onElsewhere: (callSid) => letGo.push(callSid),
  });
  return { hub, ends, letGo, watch };
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a placed call live on another instance is not ended at its timeout; one that is nowhere is", async () => {
  const { hub, ends, letGo, watch } = watched((callSid) => Promise.resolve(RECORDS[callSid]));
  hub.emit(placed(LIVE_ELSEWHERE));
  hub.emit(placed(NOWHERE));
  await wait(200);
  assert.deepEqual(ends.map((e) => [e.callSid, e.type === "call.ended" && e.reason]), [[
    NOWHERE,
    "never_connected",
  ]]);
  assert.deepEqual(letGo, [LIVE_ELSEWHERE], "its slot is freed");
  await watch.close();
  assert.equal(ends.length, 1, "nor at shutdown");
});

Deno.test("a final status or a shutdown does not end a call that ran elsewhere", async () => {
  const { hub, ends, letGo, watch } = watched((callSid) =>
    Promise.resolve(callSid === NOWHERE ? RECORDS[NOWHERE] : { startedAt: 1, endedAt: 2 })
  );
  const ended = "CA" + "3".repeat(32);
  const live = "CA" + "4".repeat(32);
  hub.emit(placed(ended));
  hub.emit(placed(live));
  hub.emit(placed(NOWHERE));
  hub.emit({ type: "call.status", at: Date.now(), callSid: ended, status: "completed", detail: "" });
  await wait(0);
  await watch.close();
  assert.deepEqual(ends.map((e) => [e.callSid, e.type === "call.ended" && e.reason]), [[
    NOWHERE,
    "server_shutdown",
  ]]);
  assert.deepEqual(letGo.sort(), [ended, live].sort());
});

Deno.test("a record that cannot be read: the call is ended, as before", async () => {
  const { hub, ends, watch } = watched(() => Promise.reject(new Error("database down")));
  hub.emit(placed(LIVE_ELSEWHERE));
  await watch.close();
  assert.deepEqual(ends.map((e) => e.type === "call.ended" && e.reason), ["server_shutdown"]);
});
