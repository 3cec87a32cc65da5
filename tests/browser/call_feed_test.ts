/**
 * The call page's live feed in real headless Chromium against Parley with the fakes: a call that
 * ended before the feed subscribed (the server sends its snapshot and ends the stream) is shown
 * ended and the feed closed, never reconnected; a feed refused because the session is gone sends
 * the browser to sign in, back to the call.
 */

import assert from "node:assert/strict";
import { launchChromium } from "./_chromium.ts";
import { feedStates, holdFirstFeedRequest, snapshotReceived, trackFeeds } from "./_feeds.ts";
import { signIn, startRig } from "./_signed_in.ts";
import { within } from "../../testing/within.ts";
import { passThrough, startTcpProxy } from "../../testing/tcp_proxy.ts";

/** EventSource.CLOSED */
const CLOSED = 2;

Deno.test("call page: a call that ended before its feed subscribed shows the end and closes the feed", async () => {
  await using rig = await startRig();
  await using browser = await launchChromium();
  const { origin } = rig.parley;
  const page = await browser.context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("pageerror", (e) => console.log(`[page error] ${e.message}`));
  await trackFeeds(page);
  await signIn(page, origin, "/calls");

  const call = await rig.parley.startCall({ persona: "alex", lead: "Fox Mulder" });
  await within(rig.parley.waitForEvent("call.started", (e) => e.callSid === call.callSid), "the start");
  const feeds = await holdFirstFeedRequest(page);
  await page.goto(`${origin}/calls/${call.callSid}`);
  await page.waitForSelector("body[data-ready]");
  // The page read the call in progress, and asked for its feed: held until the call has ended.
  const held = await within(feeds.first, "the page's feed request");
  assert.equal(await page.locator("#status").innerText(), "In progress");
  call.stop();
  await within(rig.parley.waitForEvent("call.ended", (e) => e.callSid === call.callSid), "the end");
  assert.notEqual((await rig.store.getCall(call.callSid))?.endedAt ?? null, null, "stored as ended");
  await held.continue();

  // The server sends the ended call's snapshot and ends the stream: the page shows the end and
  // closes the feed (a feed left open would reconnect every 3 s, for ever).
  await snapshotReceived(page);
  await page.locator("#status", { hasText: /^Ended: the caller hung up$/ }).waitFor();
  assert.deepEqual(await feedStates(page), [{ readyState: CLOSED, snapshots: 1 }], "the feed is closed");
  assert.equal(await page.locator("#feed").innerText(), "", "no 'live', no 'reconnecting'");
  assert.equal(await page.getByRole("button", { name: "Hang up" }).isVisible(), false);
  await page.locator("#cost-label", { hasText: /^Cost$/ }).waitFor();
  assert.equal(feeds.count, 1, "one request to the feed, no reconnection");
  await page.close();
});

Deno.test("call page: a feed refused once the session is gone sends the browser to sign in, back to the call", async () => {
  await using rig = await startRig();
  await using browser = await launchChromium();
  const { origin } = rig.parley;
  const page = await browser.context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("pageerror", (e) => console.log(`[page error] ${e.message}`));
  await signIn(page, origin, "/calls");
  const call = await rig.parley.startCall({ persona: "alex" });
  await within(rig.parley.waitForEvent("call.started", (e) => e.callSid === call.callSid), "the start");

  // The page is served through a pass-through whose connections the test cuts.
  await using proxy = startTcpProxy(Number(new URL(origin).port), passThrough);
  const proxied = `http://127.0.0.1:${proxy.port}`;
  await page.goto(`${proxied}/calls/${call.callSid}`);
  await page.locator("#feed", { hasText: "live" }).waitFor();

  // The session ends (as a restart ends the sessions kept in memory): signed out in another tab.
  const other = await browser.context.newPage();
  await other.goto(`${origin}/calling`);
  await other.getByRole("button", { name: "Sign out" }).click();
  await other.waitForURL(/\/login/);
  await other.close();

  // The feed's connection drops; its reconnection is refused (401) and the EventSource gives up.
  proxy.cutAll();
  await page.locator("#feed", { hasText: "reconnecting" }).waitFor();
  await page.waitForURL(`${proxied}/login?next=${encodeURIComponent(`/calls/${call.callSid}`)}`);
  await page.getByLabel("API token").waitFor();
  call.stop();
  await page.close();
});
