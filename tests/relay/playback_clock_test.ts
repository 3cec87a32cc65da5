/**
 * The playback clock's arithmetic, driven directly with a scripted clock.
 */

import assert from "node:assert/strict";
import { PlaybackClock } from "../../src/relay/playback_clock.ts";

Deno.test("playback clock", async (t) => {
  await t.step("names marks by item and position, with a start mark per new item", () => {
    const clock = new PlaybackClock();
    assert.deepEqual(clock.sent("item_a", "r1", 100, 0), { startMark: "item_a:0", endMark: "item_a:100" });
    assert.deepEqual(clock.sent("item_a", "r1", 60, 5), { startMark: undefined, endMark: undefined });
    assert.deepEqual(clock.sent("item_a", "r1", 40, 6), { startMark: undefined, endMark: "item_a:200" });
    assert.equal(clock.finish("item_a"), undefined, "nothing unmarked");
    assert.deepEqual(clock.sent("item_a", "r1", 20, 7), { startMark: undefined, endMark: undefined });
    assert.equal(clock.finish("item_a"), "item_a:220", "the tail is marked when the audio is done");
    assert.deepEqual(clock.sent("item_b", "r2", 40, 8), { startMark: "item_b:0", endMark: undefined });
    assert.equal(clock.finish("item_a"), undefined, "only the latest item can be finished");
  });

  await t.step("advances with time from the last echo, capped at what was sent", () => {
    const clock = new PlaybackClock();
    clock.sent("item_a", "r1", 1000, 0);
    clock.echo("item_a:0", 50); // playback began at 50
    assert.deepEqual(clock.playing(450), { itemId: "item_a", heardMs: 400 });
    clock.echo("item_a:500", 560); // Twilio ran 10 ms late: the echo is the truth
    assert.deepEqual(clock.playing(600), { itemId: "item_a", heardMs: 540 });
    assert.equal(clock.unplayedMs(5000), 0);
    assert.equal(clock.playing(5000), undefined);
  });

  await t.step("what is still unplayed spans the queued items, from the last echo on", () => {
    const clock = new PlaybackClock();
    clock.sent("item_a", "r1", 300, 0);
    clock.sent("item_b", "r2", 200, 0);
    assert.equal(clock.unplayedMs(0), 500);
    assert.equal(clock.unplayedMs(100), 400, "100 ms of item_a played");
    assert.equal(clock.unplayedMs(350), 150, "item_a played out, 50 ms of item_b");
    clock.echo("item_a:300", 400); // Twilio was 100 ms behind the clock's guess: the echo is the truth
    assert.equal(clock.unplayedMs(400), 200);
    assert.equal(clock.unplayedMs(450), 150);
    assert.deepEqual(clock.playing(450), { itemId: "item_b", heardMs: 50 });
    assert.equal(clock.unplayedMs(700), 0, "capped at what was sent");
  });

  await t.step("interrupt returns the playing item with what was heard and later items at 0", () => {
    const clock = new PlaybackClock();
    clock.sent("item_a", "r1", 300, 0);
    clock.sent("item_b", "r2", 500, 1);
    clock.echo("item_a:0", 10);
    const cut = clock.interrupt(210);
    assert.deepEqual(cut, [
      { itemId: "item_a", responseId: "r1", heardMs: 200, sentMs: 300 },
      { itemId: "item_b", responseId: "r2", heardMs: 0, sentMs: 500 },
    ]);
  });

  await t.step("each item has its own clock: the second answer is measured from its own start", () => {
    const clock = new PlaybackClock();
    clock.sent("item_a", "r1", 2000, 0);
    clock.echo("item_a:0", 0);
    clock.echo("item_a:2000", 2000);
    // a pause, then the second answer arrives into an empty buffer at 5000
    clock.sent("item_b", "r2", 3000, 5000);
    clock.echo("item_b:0", 5020);
    assert.deepEqual(clock.interrupt(5820), [{
      itemId: "item_b",
      responseId: "r2",
      heardMs: 800,
      sentMs: 3000,
    }]);
  });

  await t.step("echoes flushed by clear are ignored after an interrupt", () => {
    const clock = new PlaybackClock();
    clock.sent("item_a", "r1", 1000, 0);
    clock.interrupt(100);
    assert.equal(clock.echo("item_a:1000", 101), undefined);
    assert.equal(clock.unplayedMs(101), 0);
  });

  await t.step("an echo of a later item means the earlier ones finished", () => {
    const clock = new PlaybackClock();
    clock.sent("item_a", "r1", 200, 0);
    clock.sent("item_b", "r2", 200, 0);
    clock.echo("item_b:0", 230);
    assert.deepEqual(clock.playing(330), { itemId: "item_b", heardMs: 100 });
  });

  await t.step("marks Parley did not send are ignored", () => {
    const clock = new PlaybackClock();
    clock.sent("item_a", "r1", 200, 0);
    assert.equal(clock.echo("hello", 10), undefined);
    assert.equal(clock.echo("item_a:abc", 10), undefined);
    assert.equal(clock.echo("other:20", 10), undefined);
  });
});
