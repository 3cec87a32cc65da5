/**
 * What the session keeper asks of a new session for the call's latest answer when the old one is lost
 * (`KeptCall.replaced`'s `owed` and `prompt`): cases a review found wrong, each driven through the
 * keeper's own methods as the relay calls them. End to end: reconnect_mid_answer_test.ts.
 */

import assert from "node:assert/strict";
import { createRelayCounters } from "../../src/calls/relay_counters.ts";
import { createLogger } from "../../src/log.ts";
import { type KeptCall, type OwedAnswer, SessionKeeper } from "../../src/relay/session_keeper.ts";
import type { UpstreamSession } from "../../src/relay/upstream_session.ts";
import { within } from "../../testing/within.ts";

/** A keeper whose new session opens at once; `asked` resolves with what that session is asked for. */
function keeperFor(cleared = 0) {
  const asked = Promise.withResolvers<
    { owed: OwedAnswer | undefined; prompt: readonly string[] | undefined }
  >();
  const session = { open: true, close() {} } as unknown as UpstreamSession;
  const call: KeptCall = {
    session,
    label: "CallSid=CAtest",
    openTakeover: (handlers) => {
      queueMicrotask(() => handlers.onOpen(5));
      return session;
    },
    sessionLost: () => cleared,
    replaced: (_session, _event, owed, prompt) => asked.resolve({ owed, prompt }),
    quiet: () => true,
    failed() {},
  };
  const keeper = new SessionKeeper(call, {
    now: () => performance.now(),
    log: createLogger({ sink() {} }),
    counters: createRelayCounters(),
  });
  return { keeper, asked: within(asked.promise, "the new session") };
}

Deno.test("the caller's question before an answer is no barge-in: that answer cut short is asked again", async () => {
  const { keeper, asked } = keeperFor();
  try {
    keeper.greetingAsked();
    keeper.answerBegan();
    keeper.answered(); // the greeting, heard
    keeper.callerStarted(); // the caller asks (GPT-Live says they stopped only later, from its transcript)
    keeper.answerBegan(); // the answer begins
    keeper.replace("the test dropped the session");
    assert.deepEqual(await asked, { owed: "answer again", prompt: undefined });
  } finally {
    keeper.dispose();
  }
});

Deno.test("an answer that called a tool is not asked again: the tool would run twice", async () => {
  const { keeper, asked } = keeperFor(2_000);
  try {
    keeper.answerBegan();
    keeper.toolCalled();
    keeper.answered(); // written at once, 2 s of it still to play: cleared at the loss
    keeper.replace("the test dropped the session");
    assert.deepEqual(await asked, { owed: undefined, prompt: undefined });
  } finally {
    keeper.dispose();
  }
});

Deno.test("a prompted answer cut short (the wrap-up) is asked with its prompt again, a greeting as the greeting", async () => {
  const wrapUp = keeperFor();
  try {
    wrapUp.keeper.answerAsked(["wrap up now"]);
    wrapUp.keeper.answerBegan();
    wrapUp.keeper.replace("the test dropped the session");
    assert.deepEqual(await wrapUp.asked, { owed: "answer", prompt: ["wrap up now"] });
  } finally {
    wrapUp.keeper.dispose();
  }
  const greeting = keeperFor(1_500);
  try {
    greeting.keeper.greetingAsked();
    greeting.keeper.answerBegan();
    greeting.keeper.answerAudioDone(); // part of it heard, the rest cleared
    greeting.keeper.replace("the test dropped the session");
    assert.deepEqual(await greeting.asked, { owed: "greeting", prompt: undefined });
  } finally {
    greeting.keeper.dispose();
  }
});

Deno.test("an agent line begun before the wrap-up was asked (GPT-Live's transcript comes late) leaves the wrap-up owed", async () => {
  const { keeper, asked } = keeperFor();
  try {
    const spokeFrom = performance.now();
    keeper.answerBegan();
    keeper.answered(); // the run of audio ended
    keeper.answerAsked(["wrap up now"]); // the wrap-up, asked at that answer's end
    keeper.answerStarted(spokeFrom); // that answer's transcript, as its turn closes
    keeper.replace("the test dropped the session");
    assert.deepEqual(await asked, { owed: "answer", prompt: ["wrap up now"] });
  } finally {
    keeper.dispose();
  }
});
