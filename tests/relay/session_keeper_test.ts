/**
 * The session keeper on the hot path: an upstream event only sets a flag (no clock read per event);
 * the once-a-second tick stamps it. Stall detection itself is proven end to end in
 * reconnect_stall_realtime_test.ts and reconnect_stall_live_test.ts.
 */

import assert from "node:assert/strict";
import { createRelayCounters } from "../../src/calls/relay_counters.ts";
import { createLogger } from "../../src/log.ts";
import { type KeptCall, SessionKeeper } from "../../src/relay/session_keeper.ts";
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
