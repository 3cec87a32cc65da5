/**
 * The checks a scenario's `expect` holds, read off a call record: each says passed or failed and why,
 * in words that name what was wanted and what happened.
 */

import assert from "node:assert/strict";
import { evaluateChecks } from "../../src/rehearsal/checks.ts";
import type { CallRecord } from "../../src/store/call_record.ts";

/** A record with only what the checks read. */
function recordOf(parts: Partial<CallRecord>): CallRecord {
  return { endReason: null, toolCalls: [], transcript: [], latency: null, ...parts } as CallRecord;
}

const toolCall = (name: string, args: string) => ({
  at: 0,
  callId: `call_${name}`,
  name,
  arguments: args,
  status: "ok" as const,
  resultBytes: 2,
  durationMs: 1,
});

Deno.test("an endReason check passes on a wanted end and names the expected ones otherwise", () => {
  const phone = { maxDeadAirMs: 0 };
  assert.deepEqual(
    evaluateChecks(
      [{ name: "ends", endReason: ["agent_hung_up", "caller_hung_up"] }],
      recordOf({ endReason: "agent_hung_up" }),
      phone,
    ),
    [{ name: "ends", status: "passed", reason: "the call ended: agent_hung_up" }],
  );
  assert.deepEqual(
    evaluateChecks(
      [{ name: "ends", endReason: "agent_hung_up" }],
      recordOf({ endReason: "upstream_dropped" }),
      phone,
    ),
    [{ name: "ends", status: "failed", reason: "the call ended: upstream_dropped (expected agent_hung_up)" }],
  );
  assert.deepEqual(
    evaluateChecks([{ name: "ends", endReason: "agent_hung_up" }], recordOf({}), phone),
    [{ name: "ends", status: "failed", reason: "the call has no end reason" }],
  );
});

Deno.test("a toolCalled check names the tools called instead, and the arguments it never saw", () => {
  const phone = { maxDeadAirMs: 0 };
  const record = recordOf({
    toolCalls: [toolCall("book", '{"day":"Friday"}'), toolCall("transfer", "{}")],
  });
  assert.deepEqual(evaluateChecks([{ name: "ends", toolCalled: "end_call" }], record, phone), [
    { name: "ends", status: "failed", reason: "end_call was not called (called: book, transfer)" },
  ]);
  assert.deepEqual(evaluateChecks([{ name: "ends", toolCalled: "end_call" }], recordOf({}), phone), [
    { name: "ends", status: "failed", reason: "end_call was not called (no tool was called)" },
  ]);
  assert.deepEqual(evaluateChecks([{ name: "books", toolCalled: "book" }], record, phone), [
    { name: "books", status: "passed", reason: "book was called 1×" },
  ]);
  assert.deepEqual(
    evaluateChecks([{ name: "friday", toolCalled: "book", withArguments: { day: "friday" } }], record, phone),
    [{ name: "friday", status: "passed", reason: 'book was called with {"day":"Friday"}' }],
  );
  assert.deepEqual(
    evaluateChecks([{ name: "monday", toolCalled: "book", withArguments: { day: "Monday" } }], record, phone),
    [{
      name: "monday",
      status: "failed",
      reason: 'book was called, but never with {"day":"Monday"}: {"day":"Friday"}',
    }],
  );
});

Deno.test("an outcome check compares each wanted value exactly, and says why when there is no outcome", () => {
  const phone = { maxDeadAirMs: 0 };
  const check = [{ name: "books", outcome: { interested: true, meetingDay: "Tuesday", seats: 3 } }];
  const settled = (
    state: "done" | "failed",
    result: Record<string, unknown> | null,
    error: string | null,
  ) => ({
    kind: "settled" as const,
    outcome: { state, result, error, attempts: 1, model: "gpt-5-mini", costUsd: 0, updatedAt: 0 },
  });
  const run = (reading: Parameters<typeof evaluateChecks>[3]) =>
    evaluateChecks(check, recordOf({}), phone, reading)[0];
  assert.deepEqual(run(settled("done", { interested: true, meetingDay: "Tuesday", seats: 3 }, null)), {
    name: "books",
    status: "passed",
    reason: 'the outcome says interested true, meetingDay "Tuesday", seats 3',
  });
  // "3" is not 3, and a missing field is said to be absent.
  assert.deepEqual(run(settled("done", { interested: true, seats: "3" }, null)), {
    name: "books",
    status: "failed",
    reason:
      'the outcome says interested true, meetingDay absent (expected "Tuesday"), seats "3" (expected 3)',
  });
  assert.deepEqual(run(settled("failed", null, "HTTP 400: bad schema")), {
    name: "books",
    status: "failed",
    reason: "the analysis failed: HTTP 400: bad schema",
  });
  assert.deepEqual(
    run({ kind: "unsettled", reason: "the analysis is pending after 3 attempt(s) 120 s after the call" }),
    {
      name: "books",
      status: "failed",
      reason: "no outcome: the analysis is pending after 3 attempt(s) 120 s after the call",
    },
  );
  assert.equal(run({ kind: "no_analysis" })!.status, "skipped");
  assert.equal(run(undefined)!.status, "skipped");
});

Deno.test("maxTurns counts the agent's lines, p95LatencyMs reads the record's p95 and fails without a turn", () => {
  const phone = { maxDeadAirMs: 0 };
  const line = (speaker: "agent" | "caller") => ({
    at: 0,
    speaker,
    text: "…",
    interruptedAtMs: null,
    spokenAt: null,
  });
  const record = recordOf({
    transcript: [line("agent"), line("caller"), line("agent"), line("agent")],
    latency: { turns: 3, p50Ms: 400, p95Ms: 1200.4 },
  });
  assert.deepEqual(
    evaluateChecks(
      [
        { name: "short", maxTurns: 2 },
        { name: "three", maxTurns: 3 },
        { name: "fast", p95LatencyMs: 1000 },
        { name: "fair", p95LatencyMs: 1500 },
      ],
      record,
      phone,
    ),
    [
      { name: "short", status: "failed", reason: "the agent spoke 3 turn(s) (at most 2)" },
      { name: "three", status: "passed", reason: "the agent spoke 3 turn(s) (at most 3)" },
      { name: "fast", status: "failed", reason: "turn latency p95 1200 ms over 3 turn(s) (at most 1000 ms)" },
      { name: "fair", status: "passed", reason: "turn latency p95 1200 ms over 3 turn(s) (at most 1500 ms)" },
    ],
  );
  assert.deepEqual(evaluateChecks([{ name: "fast", p95LatencyMs: 1000 }], recordOf({}), phone), [
    {
      name: "fast",
      status: "failed",
      reason: "no agent turn latency was measured (the agent never answered)",
    },
  ]);
  assert.deepEqual(
    evaluateChecks([{ name: "quiet", maxDeadAirSeconds: 2 }], recordOf({}), { maxDeadAirMs: 2500 }),
    [
      { name: "quiet", status: "failed", reason: "the longest silence was 2.5 s (at most 2 s)" },
    ],
  );
});
