/**
 * The in-process event bus: per-call positions, catch-up from a position, and the bounds on what it
 * keeps for late subscribers.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type CallEvent } from "../../src/calls/call_events.ts";
import { createLogger } from "../../src/log.ts";
import { CallHub, KEPT_CALLS, KEPT_ENDED_CALLS, KEPT_EVENTS_PER_CALL } from "../../src/calls/call_hub.ts";

const line = (callSid: string, text: string): CallEvent => ({
  type: "transcript",
  at: 1,
  callSid,
  speaker: "caller",
  text,
});
const ended = (callSid: string): CallEvent => ({
  type: "call.ended",
  at: 2,
  callSid,
  reason: "caller_hung_up",
  detail: "",
});

/** What a subscriber from `after` hears of `callSid` at once (the kept events). */
function replay(hub: CallHub, callSid: string, after: number): number[] {
  const positions: number[] = [];
  hub.subscribe((_, seq) => positions.push(seq!), { callSid, after })();
  return positions;
}

Deno.test("the hub numbers each call's events from 1, apart from other calls", () => {
  const hub = new CallHub();
  const heard: [string, number | undefined][] = [];
  const off = hub.subscribe((event, seq) => heard.push([event.callSid, seq]));
  hub.publish(line("CA1", "a"));
  hub.emit(line("CA2", "b"));
  hub.publish(line("CA1", "c"));
  off();
  assert.deepEqual(heard, [["CA1", 1], ["CA2", 1], ["CA1", 2]]);
  assert.deepEqual(replay(hub, "CA1", 1), [2]);
  assert.deepEqual(replay(hub, "CA1", 2), []);
});

Deno.test("the hub keeps the last events of a call, and of a bounded number of ended calls", () => {
  const hub = new CallHub();
  for (let i = 0; i < KEPT_EVENTS_PER_CALL + 10; i++) hub.publish(line("CA_LONG", `line ${i}`));
  const kept = replay(hub, "CA_LONG", 0);
  assert.equal(kept.length, KEPT_EVENTS_PER_CALL);
  assert.equal(kept[0], 11, "the oldest go first");

  hub.publish(ended("CA_LONG"));
  for (let i = 0; i < KEPT_ENDED_CALLS; i++) {
    hub.publish(line(`CA_E${i}`, "x"));
    hub.publish(ended(`CA_E${i}`));
  }
  assert.deepEqual(replay(hub, "CA_LONG", 0), [], "the oldest ended call is forgotten");
  assert.deepEqual(replay(hub, "CA_E0", 0), [1, 2], "younger ended calls are kept");
});

Deno.test("a long call keeps its last minute of events for late subscribers, not all it had", () => {
  let now = 0;
  const hub = new CallHub(undefined, () => now);
  for (let i = 0; i < 30; i++) {
    hub.publish(line("CA_LONG", `line ${i}`));
    now += 10_000; // an event every 10 s
  }
  // The newest event was kept at 290 s; the next comes at 300 s: what is older than a minute goes.
  hub.publish(line("CA_LONG", "line 30"));
  const kept = replay(hub, "CA_LONG", 0);
  assert.deepEqual(kept, [25, 26, 27, 28, 29, 30, 31], "the events of the last 60 s, the newest included");
  assert.deepEqual(replay(hub, "CA_LONG", 29), [30, 31], "a subscriber from a recent position catches up");
  // A burst within the minute is still bounded by count.
  for (let i = 0; i < KEPT_EVENTS_PER_CALL + 5; i++) hub.publish(line("CA_BURST", `line ${i}`));
  assert.equal(replay(hub, "CA_BURST", 0).length, KEPT_EVENTS_PER_CALL);
});

Deno.test("the hub forgets the oldest calls beyond its bound, even calls that never end", () => {
  const hub = new CallHub();
  for (let i = 0; i <= KEPT_CALLS; i++) hub.publish(line(`CA${i}`, "x"));
  assert.deepEqual(replay(hub, "CA0", 0), []);
  assert.deepEqual(replay(hub, "CA1", 0), [1]);
  assert.deepEqual(replay(hub, `CA${KEPT_CALLS}`, 0), [1]);
});

Deno.test("a listener that throws is reported through the logger, its text escaped and cut, and the others still hear the event", () => {
  const lines: string[] = [];
  const log = createLogger({ sink: (_level, text) => lines.push(text), secrets: ["sk-secret-abcdef"] });
  const hub = new CallHub((message) => log.error(message));
  const heard: string[] = [];
  hub.subscribe(() => {
    throw new Error(`bad \x1b[31mred\u202e text with sk-secret-abcdef ${"x".repeat(1000)}`);
  });
  hub.subscribe((event) => heard.push(event.type));
  hub.emit(line("CA1", "hello"));
  assert.deepEqual(heard, ["transcript"]);
  assert.equal(lines.length, 1);
  const [reported] = lines;
  assert.match(
    reported!,
    /^\[Realtime\] Call event listener failed on transcript for CallSid=CA1: bad \\x1b\[31mred\\u202e text with \[redacted\] x+… \(\d+ chars\)$/,
  );
  assert.ok(reported!.length < 500, `one short line, not ${reported!.length} characters`);
});
