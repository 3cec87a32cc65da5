/**
 * The session keeper on the hot path: an upstream event only sets a flag (no clock read per event);
 * the once-a-second tick stamps it. Stall detection itself is proven end to end in
 * reconnect_stall_realtime_test.ts and reconnect_stall_live_test.ts.
 */

import assert from "node:assert/strict";
import { createRelayCounters } from "../../src/calls/relay_counters.ts";
import { createLogger } from "../../src/log.ts";
import { type KeptCall, MAX_HISTORY_TURNS, SessionKeeper } from "../../src/relay/session_keeper.ts";
import type { HistoryTurn } from "../../src/engines/engine.ts";
import type { UpstreamSession } from "../../src/relay/upstream_session.ts";

Deno.test("the session keeper reads no clock per upstream event", () => {
  let clockReads = 0;
  const call: KeptCall = {
    session: { open: true, close() {} } as unknown as UpstreamSession,
    label: "CallSid=CAtest",
    openTakeover: () => {
      throw new Error("no takeover in this test");
    },
    sessionLost: () => 0,
    replaced() {},
    quiet: () => true,
    failed() {},
  };
  const keeper = new SessionKeeper(call, {
    now: () => {
      clockReads++;
      return 0;
    },
    log: createLogger({ sink() {} }),
    counters: createRelayCounters(),
  });
  const before = clockReads;
  for (let i = 0; i < 1000; i++) keeper.heard();
  assert.equal(clockReads - before, 0, "1000 events, no clock read");
  keeper.dispose();
});

Deno.test("a long call's history is kept up to a bound: a new session gets the newest turns, in order", async () => {
  let history: HistoryTurn[] | undefined;
  const opened = Promise.withResolvers<void>();
  const call: KeptCall = {
    session: { open: true, close() {} } as unknown as UpstreamSession,
    label: "CallSid=CAtest",
    openTakeover: (_handlers, turns) => {
      history = turns;
      opened.resolve();
      // A session that never opens: this test only reads what a new one would get.
      return { open: false, close() {} } as unknown as UpstreamSession;
    },
    sessionLost: () => 0,
    replaced() {},
    quiet: () => true,
    failed() {},
  };
  const keeper = new SessionKeeper(call, {
    now: () => performance.now(),
    log: createLogger({ sink() {} }),
    counters: createRelayCounters(),
  });
  const turns = MAX_HISTORY_TURNS + 40;
  for (let i = 0; i < turns; i++) {
    keeper.remember({ speaker: i % 2 === 0 ? "caller" : "agent", text: `line ${i}` });
  }
  assert.equal(keeper.historyLength, MAX_HISTORY_TURNS);
  keeper.replace("the test dropped the session");
  await opened.promise;
  keeper.dispose();
  assert.equal(history?.length, MAX_HISTORY_TURNS);
  assert.deepEqual(history?.[0], { speaker: "caller", text: `line ${turns - MAX_HISTORY_TURNS}` });
  assert.deepEqual(history?.at(-1), { speaker: "agent", text: `line ${turns - 1}` });
});
