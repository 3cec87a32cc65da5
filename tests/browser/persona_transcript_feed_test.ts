/**
 * The persona page's softphone in real headless Chromium (a fake microphone) against Parley with the
 * fakes: when the call has ended before its transcript feed subscribed (the server sends the ended
 * call's snapshot and ends the stream), the feed shows that transcript and closes, never reconnected.
 */

import assert from "node:assert/strict";
import { launchChromium } from "./_chromium.ts";
import { feedStates, holdFirstFeedRequest, snapshotReceived, trackFeeds } from "./_feeds.ts";
import { signIn, startRig } from "./_signed_in.ts";
import { within } from "../../testing/within.ts";

/** EventSource.CLOSED */
const CLOSED = 2;

Deno.test("persona page: a softphone call that ended before its transcript feed subscribed closes the feed", async () => {
  await using rig = await startRig();
  await using browser = await launchChromium([
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
  ]);
  const { origin } = rig.parley;
  const page = await browser.context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("pageerror", (e) => console.log(`[page error] ${e.message}`));
  await trackFeeds(page);
  const feeds = await holdFirstFeedRequest(page);
  await signIn(page, origin, "/personas/alex");

  await page.getByRole("button", { name: "Talk" }).click();
  // The call is assigned and the page asks for its transcript feed: held until the call has ended.
  const held = await within(feeds.first, "the transcript feed's request", 10_000);
  const callSid = new URL(held.request().url()).pathname.split("/")[3]!;
  const session = await within(rig.parley.upstream.session(0), "the upstream session");
  await within(rig.parley.waitForEvent("call.started", (e) => e.callSid === callSid), "the start");
  // The session is ready before the server says anything of the caller (OpenAI's order too).
  await within(rig.parley.waitForEvent("session.configured", (e) => e.callSid === callSid), "the session");
  session.send({
    type: "conversation.item.input_audio_transcription.completed",
    item_id: "item_caller_1",
    content_index: 0,
    transcript: "Hello, is this the demo line?",
  });
  await within(rig.parley.waitForEvent("transcript", (e) => e.callSid === callSid), "the caller's line");
  await page.getByRole("button", { name: "Hang up" }).click();
  await within(rig.parley.waitForEvent("call.ended", (e) => e.callSid === callSid), "the end");
  await page.locator("#softphone-status", { hasText: "Call ended" }).waitFor();
  assert.notEqual((await rig.store.getCall(callSid))?.endedAt ?? null, null, "stored as ended");
  await held.continue();

  // The snapshot brings the whole transcript; the stream then ends, and so does the feed.
  await snapshotReceived(page);
  await page.locator("#talk-transcript li.caller", { hasText: "You:Hello, is this the demo line?" })
    .waitFor();
  assert.deepEqual(await feedStates(page), [{ readyState: CLOSED, snapshots: 1 }], "the feed is closed");
  await page.getByRole("link", { name: "This call’s record" }).waitFor();
  assert.equal(feeds.count, 1, "one request to the feed, no reconnection");
  await page.close();
});
