/**
 * The drain's timer: a DRAIN_TIMEOUT_S longer than a timer holds (2^31 − 1 ms) must not end the live
 * calls at once, and the other lifetimes read from the environment never make such a timer.
 */

import assert from "node:assert/strict";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { type Drainable, waitForShutdown } from "../src/shutdown.ts";
import { InstanceHeartbeat } from "../src/store/postgres/instance_heartbeat.ts";

/** One live call that ends when the test says so; `shutdown` records that the calls were cut. */
function oneLiveCall() {
  let end!: () => void;
  const ended = new Promise<void>((resolve) => end = resolve);
  let live = 1;
  const cut: string[] = [];
  const parley: Drainable = {
    activeCalls: () => live,
    drain: () => ended.then(() => void (live = 0)),
    shutdown: () => {
      cut.push(`cut ${live}`);
      live = 0;
      return Promise.resolve();
    },
  };
  return { parley, end, cut };
}

Deno.test("a drain longer than a timer holds waits for the calls instead of ending them after 1 ms", async () => {
  const lines: string[] = [];
  const log = createLogger({ sink: (_level, line) => lines.push(line) });
  const { parley, end, cut } = oneLiveCall();
  // 30 days, "practically forever": 2.6e9 ms, which setTimeout would turn into 1 ms.
  const stopped = waitForShutdown(parley, { log, drainTimeoutS: 2_592_000, signals: ["SIGUSR2"] });
  Deno.kill(Deno.pid, "SIGUSR2");
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(cut, [], `the live call must not be cut at once:\n${lines.join("\n")}`);
  end();
  const report = await stopped;
  assert.equal(report.drained, 1);
  assert.equal(report.ended, 0, "the call ended by itself: drained, not cut");
  assert.ok(!lines.some((l) => /DRAIN_TIMEOUT_S=2592000 passed/.test(l)), lines.join("\n"));
});

Deno.test("the config refuses that DRAIN_TIMEOUT_S; the other lifetimes never make a timer that long", () => {
  assert.throws(
    () => loadConfig({ OPENAI_API_KEY: "sk-test-0123456789", DRAIN_TIMEOUT_S: "2592000" }),
    /DRAIN_TIMEOUT_S: "2592000" is longer than a timer can wait: use at most 2147483 seconds/,
  );
  // INSTANCE_TIMEOUT_S is compared in SQL; the heartbeat's own timer beats every 5 s at most.
  const config = loadConfig({ OPENAI_API_KEY: "sk-test-0123456789", INSTANCE_TIMEOUT_S: "2592000" });
  const heartbeat = new InstanceHeartbeat({} as never, {} as never, {
    instance: "test",
    timeoutMs: config.instanceTimeoutS * 1000,
    report: () => {},
  });
  assert.equal(heartbeat.beatMs, 5_000);
  // SESSION_ROLLOVER_MINUTES stays below 60 minutes (checked each second, not a timer).
  assert.throws(
    () => loadConfig({ OPENAI_API_KEY: "sk-test-0123456789", SESSION_ROLLOVER_MINUTES: "43200" }),
    /SESSION_ROLLOVER_MINUTES: "43200" is not a number of minutes above 0 and below 60/,
  );
});
