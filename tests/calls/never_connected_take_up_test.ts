/**
 * The never-connected watch taking up the calls a previous run placed that were still ringing (or
 * awaiting their stream) when it stopped: each ends as it would have without the restart — by Twilio's
 * final status, or `never_connected` at its old deadline (Twilio's longest ring after it was placed,
 * plus the connect timeout; the connect timeout after its webhook), at once when that has passed.
 * A `deno task dev` restart's shutdown leaves the calls placed here open for the next start.
 */

import assert from "node:assert/strict";
import type { CallEvent } from "../../src/calls/call_events.ts";
import { CallHub } from "../../src/calls/call_hub.ts";
import { watchNeverConnected } from "../../src/calls/never_connected.ts";
import { within } from "../../testing/within.ts";

const sid = (c: string) => "CA" + c.repeat(32);

/** The hub's `call.ended` events, and a wait for the first `n`. */
function endsOf(hub: CallHub) {
  const ends: Extract<CallEvent, { type: "call.ended" }>[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  hub.subscribe((event) => {
    if (event.type !== "call.ended") return;
    ends.push(event);
    for (const waiter of waiters) if (ends.length >= waiter.n) waiter.resolve();
  });
  const until = (n: number) =>
    ends.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }));
  return { ends, until };
}

Deno.test("calls taken up end as they would have: by Twilio's status, or never_connected at their old deadline", async () => {
  const hub = new CallHub();
  const { ends, until } = endsOf(hub);
  const T = 1_000_000;
  const watch = watchNeverConnected(hub, { timeoutMs: 40, ringMs: 100, now: () => T });
  const started = performance.now();
  watch.takeUp({ callSid: sid("a"), placedAt: T - 100, webhookAt: null }); // 40 ms of ring left
  watch.takeUp({ callSid: sid("b"), placedAt: T - 500, webhookAt: T - 20 }); // 20 ms for its stream
  watch.takeUp({ callSid: sid("c"), placedAt: T - 1_000, webhookAt: null }); // past its deadline
  watch.takeUp({ callSid: sid("d"), placedAt: T - 10, webhookAt: null });
  watch.takeUp({ callSid: sid("e"), placedAt: T - 10, webhookAt: null });
  hub.emit({ type: "call.status", at: T, callSid: sid("d"), status: "no-answer", detail: "" });
  hub.emit({
    type: "call.started",
    at: T,
    callSid: sid("e"),
    streamSid: "MZ" + "e".repeat(32),
    persona: "tester",
    model: "gpt-realtime",
    parameters: {},
  });
  await within(until(4), "four ends");
  const elapsed = performance.now() - started;
  const detailOf = Object.fromEntries(ends.map((e) => [e.callSid, `${e.reason}: ${e.detail}`]));
  assert.deepEqual(detailOf, {
    [sid("a")]: "never_connected: Twilio never fetched the voice webhook",
    [sid("b")]: `never_connected: ${
      "no media stream started within 0.04 s of the voice webhook (check PUBLIC_BASE_URL, the tunnel, " +
      "and the log for a refused socket or an OpenAI refusal)"
    }`,
    [sid("c")]: "never_connected: Twilio never fetched the voice webhook",
    [sid("d")]: "never_connected: Twilio reports the call no-answer before any media stream",
  });
  assert.deepEqual(
    ends.map((e) => e.callSid).filter((s) => s === sid("a") || s === sid("b")),
    [sid("b"), sid("a")],
    "each at its own deadline",
  );
  assert.ok(elapsed >= 35, `the last one waited for its deadline (${elapsed.toFixed(0)} ms)`);
  await watch.close();
  assert.equal(ends.length, 4, "the started call was left to its relay");
});

Deno.test("a dev restart's shutdown leaves the calls placed here open; other calls waiting for their stream end", async () => {
  const hub = new CallHub();
  const { ends } = endsOf(hub);
  const watch = watchNeverConnected(hub, { timeoutMs: 60_000 });
  const at = Date.now();
  hub.emit({
    type: "call.placed",
    at,
    callSid: sid("1"),
    persona: "tester",
    from: "",
    to: "",
    parameters: {},
  });
  hub.emit({
    type: "call.webhook",
    at,
    callSid: sid("2"),
    persona: "quiet",
    direction: "inbound",
    from: "",
    to: "",
    parameters: {},
  });
  watch.takeUp({ callSid: sid("3"), placedAt: at, webhookAt: at });
  await watch.close({ leavePlaced: true });
  assert.deepEqual(ends.map((e) => [e.callSid, e.reason]), [[sid("2"), "server_shutdown"]]);

  // A stop that is not a restart ends them all, as before.
  const again = new CallHub();
  const other = endsOf(again);
  const stopping = watchNeverConnected(again, { timeoutMs: 60_000 });
  again.emit({
    type: "call.placed",
    at,
    callSid: sid("1"),
    persona: "tester",
    from: "",
    to: "",
    parameters: {},
  });
  stopping.takeUp({ callSid: sid("3"), placedAt: at, webhookAt: null });
  await stopping.close();
  assert.deepEqual(other.ends.map((e) => [e.callSid, e.reason]), [
    [sid("1"), "server_shutdown"],
    [sid("3"), "server_shutdown"],
  ]);
});
