/** The words the pages show for call records' enums (`src/web/words.js`), tested as plain functions. */
import assert from "node:assert/strict";
import {
  callStateWords,
  durationWords,
  END_WORDS,
  endWords,
  isOver,
  plural,
  statusDetailWords,
  statusWords,
} from "../../src/web/words.js";
import { END_REASONS } from "../../src/calls/call_events.ts";

/** A call record's state fields, for a call nobody has dialled yet. */
const waiting = { status: null, startedAt: null, endedAt: null, endReason: null };

Deno.test("words: every end reason the server records has its words, and no other reason has", () => {
  assert.deepEqual(Object.keys(END_WORDS).sort(), [...END_REASONS].sort());
  for (const reason of END_REASONS) assert.ok(!endWords(reason).includes("_"), `"${reason}" shows raw`);
});

Deno.test("words: statuses and end reasons read as words, unknown ones without their underscores", () => {
  assert.equal(statusWords("busy"), "Line busy");
  assert.equal(statusWords("in-progress"), "Answered");
  assert.equal(statusWords(null), "Waiting to dial");
  assert.equal(statusWords("some_new-status"), "some new status");
  assert.equal(endWords("caller_hung_up"), "Ended: the caller hung up");
  assert.equal(endWords(undefined), "Ended");
  assert.equal(endWords("a_new_reason"), "Ended: a new reason");
});

Deno.test("words: a call's state says why Twilio never connected it, else how it ended", () => {
  assert.equal(callStateWords(waiting), "Waiting to dial");
  assert.equal(callStateWords({ ...waiting, status: "ringing" }), "Ringing");
  assert.equal(callStateWords({ ...waiting, status: "busy" }), "Line busy");
  assert.equal(
    callStateWords({ ...waiting, status: "no-answer", endedAt: 2, endReason: "never_connected" }),
    "No answer",
  );
  assert.equal(callStateWords({ ...waiting, status: "in-progress", startedAt: 1 }), "In progress");
  assert.equal(callStateWords({ ...waiting, status: "completed", startedAt: 1 }), "Finished");
  assert.equal(
    callStateWords({ status: "completed", startedAt: 1, endedAt: 2, endReason: "agent_hung_up" }),
    "Ended: the agent hung up",
  );
  assert.equal(callStateWords({ ...waiting, endReason: "never_connected" }), "Not connected");
});

Deno.test("words: a call is over once it has ended or Twilio gave a final status", () => {
  assert.equal(isOver(waiting), false);
  assert.equal(isOver({ ...waiting, status: "ringing" }), false);
  assert.equal(isOver({ ...waiting, status: "canceled" }), true);
  assert.equal(isOver({ ...waiting, endReason: "error" }), true);
  assert.equal(isOver({ ...waiting, endedAt: 5 }), true);
});

Deno.test("words: a status callback's details become words, failure codes kept", () => {
  assert.equal(
    statusDetailWords("CallStatus=completed CallDuration=42 AnsweredBy=human"),
    "after 42 s · a person answered",
  );
  assert.equal(statusDetailWords("AnsweredBy=machine_end_beep"), "an answering machine answered");
  assert.equal(statusDetailWords("AnsweredBy=fax"), "a fax machine answered");
  assert.equal(statusDetailWords("AnsweredBy=unknown"), "could not tell who answered");
  assert.equal(
    statusDetailWords("CallStatus=failed SipResponseCode=404 ErrorCode=13224"),
    "SIP code 404 · Twilio error 13224",
  );
  assert.equal(statusDetailWords(""), "");
});

Deno.test("words: durations read in seconds, minutes and hours", () => {
  assert.equal(durationWords(null), "—");
  assert.equal(durationWords(Number.NaN), "—");
  assert.equal(durationWords(-500), "0 s");
  assert.equal(durationWords(59_499), "59 s");
  assert.equal(durationWords(83_000), "1 min 23 s");
  assert.equal(durationWords(3_600_000 + 5 * 60_000 + 1_000), "1 h 5 min");
});

Deno.test("words: a count and its noun, plural unless one", () => {
  assert.deepEqual([plural(0, "lead"), plural(1, "lead"), plural(2, "number")], [
    "0 leads",
    "1 lead",
    "2 numbers",
  ]);
});
