/**
 * The call page while a call's post-call analysis is still to come, in real headless Chromium against
 * Parley asking a fake Responses API whose first answer is a 503 (the analysis then waits to try
 * again): a live feed that subscribed once the call had ended stays open for `call.analyzed`, the last
 * event the server sends it, and then closes, never reconnected. (A failed look at the record:
 * call_refresh_error_test.ts.)
 */

import assert from "node:assert/strict";
import { launchChromium } from "./_chromium.ts";
import { holdFirstFeedRequest, snapshotReceived, trackFeeds } from "./_feeds.ts";
import { signIn } from "./_signed_in.ts";
import { API_TOKEN, startParley, withRig } from "../analysis/_analysis_rig.ts";
import { within } from "../../testing/within.ts";

const OUTCOME = { interested: true, meetingDay: "Tuesday", objections: [] };

/** The page's globals the tracker of `_feeds.ts` adds. */
interface FeedGlobals {
  __feeds: { source: { readyState: number } }[];
}

Deno.test("call page: a feed that subscribed while the analysis ran closes after call.analyzed", async () => {
  await withRig([{ status: 503, retryAfterMs: 2_000 }], OUTCOME, async (fake, dir, dataDir) => {
    const rig = await startParley(dir, dataDir, fake);
    try {
      const call = await rig.t.startCall({ persona: "lead", lead: "Dana" });
      await within(rig.t.waitForEvent("call.started", (e) => e.callSid === call.callSid), "the start");
      await using browser = await launchChromium();
      const page = await browser.context.newPage();
      page.setDefaultTimeout(10_000);
      page.on("pageerror", (e) => console.log(`[page error] ${e.message}`));
      await trackFeeds(page);
      const feeds = await holdFirstFeedRequest(page);
      await signIn(page, rig.t.origin, `/calls/${call.callSid}`, API_TOKEN);
      // The page read the call in progress and asked for its feed: held until the call has ended and
      // its analysis waits to try again.
      const held = await within(feeds.first, "the page's feed request");
      call.stop();
      await within(rig.t.waitForEvent("call.ended", (e) => e.callSid === call.callSid), "the end");
      await within(rig.t.waitForLog(/Analysis try 1 of 8 failed .*503/), "the analysis's first try");
      await held.continue();

      await snapshotReceived(page);
      await page.locator("#status", { hasText: /^Ended: the caller hung up$/ }).waitFor();
      // The server sends `call.analyzed` and ends the stream: the page closes the feed then.
      await page.waitForFunction(() =>
        (globalThis as unknown as FeedGlobals).__feeds[0]?.source.readyState === 2
      );
      assert.equal(feeds.count, 1, "one request to the feed, no reconnection");
      await page.locator("#outcome-state", { hasText: "Filled by gpt-5-mini after the call." }).waitFor();
      assert.equal(await page.locator("#feed").innerText(), "");
      await page.close();
    } finally {
      await rig.close();
    }
  });
});
