/**
 * Turn latency, driven directly with a scripted clock.
 */

import assert from "node:assert/strict";
import { type TurnLatency, TurnTimer } from "../../src/relay/turn_timer.ts";

Deno.test("turn timer", async (t) => {
  const timer = () => {
    const reports: TurnLatency[] = [];
    return { reports, timer: new TurnTimer((latency) => reports.push(latency)) };
  };

  await t.step("measures from the caller's stop to the first audio sent and to its playback", () => {
    const { reports, timer: turns } = timer();
    turns.callerStopped(1000);
    turns.responseStarted("resp_1");
    turns.audioSent("resp_1", "item_1", 1300.4);
    turns.audioSent("resp_1", "item_1", 1320); // later audio of the same answer changes nothing
    assert.deepEqual(reports, []);
    turns.heard("item_1", 1350.6);
    assert.deepEqual(reports, [{ firstAudioSentMs: 300, firstAudioHeardMs: 351 }]);
    turns.heard("item_1", 1400);
    assert.equal(reports.length, 1, "one report per turn");
  });

  await t.step("only the first answer after the caller stopped counts", () => {
    const { reports, timer: turns } = timer();
    turns.responseStarted("resp_old"); // before the caller stopped: not this turn's
    turns.callerStopped(0);
    turns.audioSent("resp_old", "item_old", 10);
    turns.responseStarted("resp_new");
    turns.heard("item_old", 20);
    assert.deepEqual(reports, []);
    turns.audioSent("resp_new", "item_new", 200);
    turns.heard("item_new", 260);
    assert.deepEqual(reports, [{ firstAudioSentMs: 200, firstAudioHeardMs: 260 }]);
  });

  await t.step("an abandoned turn reports the sent figure only, and only when audio was sent", () => {
    const { reports, timer: turns } = timer();
    turns.callerStopped(0);
    turns.abandon();
    assert.deepEqual(reports, [], "nothing was sent yet");
    turns.responseStarted("r");
    turns.audioSent("r", "i", 250);
    turns.abandon();
    assert.deepEqual(reports, [{ firstAudioSentMs: 250, firstAudioHeardMs: undefined }]);
    turns.heard("i", 300);
    assert.equal(reports.length, 1);
  });

  await t.step("the caller speaking again closes the previous turn unconfirmed", () => {
    const { reports, timer: turns } = timer();
    turns.callerStopped(0);
    turns.responseStarted("r1");
    turns.audioSent("r1", "i1", 100);
    turns.callerStopped(500);
    assert.deepEqual(reports, [{ firstAudioSentMs: 100, firstAudioHeardMs: undefined }]);
    turns.responseStarted("r2");
    turns.audioSent("r2", "i2", 800);
    turns.heard("i2", 850);
    assert.deepEqual(reports[1], { firstAudioSentMs: 300, firstAudioHeardMs: 350 });
  });

  await t.step("a caller's stop learnt late (GPT-Live transcripts) is matched to the answer after it", () => {
    const { reports, timer: turns } = timer();
    turns.responseStarted("a1");
    turns.audioSent("a1", "a1", 1300);
    turns.heard("a1", 1340);
    turns.callerStopped(1000); // the transcript saying the caller stopped at 1000 arrives now
    assert.deepEqual(reports, [{ firstAudioSentMs: 300, firstAudioHeardMs: 340 }]);

    turns.responseStarted("a2");
    turns.audioSent("a2", "a2", 2500);
    turns.callerStopped(2200); // learnt before playback was confirmed: reported when it is
    assert.equal(reports.length, 1);
    turns.heard("a2", 2560);
    assert.deepEqual(reports[1], { firstAudioSentMs: 300, firstAudioHeardMs: 360 });
  });
});
