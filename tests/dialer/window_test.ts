/**
 * Calling windows on a fake clock: the end of a window, a lead in another time zone, and the
 * daylight-saving changes (the window keeps its wall-clock hours).
 */
import assert from "node:assert/strict";
import { inWindow, isTimeZone, nextWindowOpen, windowCloses } from "../../src/dialer/window.ts";
import type { CallingWindow } from "../../src/store/campaign.ts";

const WEEKDAYS_9_TO_5: CallingWindow = {
  timezone: "America/New_York",
  days: ["mon", "tue", "wed", "thu", "fri"],
  start: "09:00",
  end: "17:00",
};
const NY = "America/New_York";
const iso = (at: number | undefined) => at === undefined ? "never" : new Date(at).toISOString();

Deno.test("window: 16:59 on a Friday is inside; 17:00 is out and the next start is Monday 09:00", () => {
  const friday1659 = Date.parse("2026-12-04T21:59:00Z"); // EST, UTC-5
  assert.equal(inWindow(WEEKDAYS_9_TO_5, NY, friday1659), true);
  assert.equal(iso(windowCloses(WEEKDAYS_9_TO_5, NY, friday1659)), "2026-12-04T22:00:00.000Z");
  assert.equal(inWindow(WEEKDAYS_9_TO_5, NY, friday1659 + 60_000), false, "end is exclusive");
  assert.equal(iso(nextWindowOpen(WEEKDAYS_9_TO_5, NY, friday1659 + 60_000)), "2026-12-07T14:00:00.000Z");
  assert.equal(nextWindowOpen(WEEKDAYS_9_TO_5, NY, friday1659), friday1659, "inside: now");
});

Deno.test("window: a lead in another time zone waits for its own 09:00", () => {
  const at = Date.parse("2026-12-04T21:59:00Z"); // Friday 16:59 in New York, Saturday 03:29 in Kolkata
  assert.equal(inWindow(WEEKDAYS_9_TO_5, "Asia/Kolkata", at), false);
  assert.equal(iso(nextWindowOpen(WEEKDAYS_9_TO_5, "Asia/Kolkata", at)), "2026-12-07T03:30:00.000Z");
  assert.equal(iso(nextWindowOpen(WEEKDAYS_9_TO_5, "America/Los_Angeles", at)), iso(at), "13:59 there");
});

Deno.test("window: across daylight-saving changes 09:00 stays 09:00 local", () => {
  const everyDay: CallingWindow = { ...WEEKDAYS_9_TO_5, days: ["sat", "sun", "mon"] };
  // Spring forward, Sunday 14 March 2027: Saturday's 17:30 EST → Sunday 09:00 EDT (UTC-4).
  assert.equal(
    iso(nextWindowOpen(everyDay, NY, Date.parse("2027-03-13T22:30:00Z"))),
    "2027-03-14T13:00:00.000Z",
  );
  // Fall back, Sunday 7 November 2027: Saturday's 17:30 EDT → Sunday 09:00 EST (UTC-5).
  assert.equal(
    iso(nextWindowOpen(everyDay, NY, Date.parse("2027-11-06T21:30:00Z"))),
    "2027-11-07T14:00:00.000Z",
  );
  // A start the spring-forward night skips (02:30) moves forward by the gap, as the clock does.
  const early: CallingWindow = { ...everyDay, start: "02:30", end: "05:00" };
  assert.equal(
    iso(nextWindowOpen(early, NY, Date.parse("2027-03-13T22:30:00Z"))),
    "2027-03-14T07:30:00.000Z",
  );
  // Europe changes on another date (28 March 2027): London's 09:00 is 09:00 UTC, then 08:00 UTC.
  assert.equal(
    iso(nextWindowOpen(everyDay, "Europe/London", Date.parse("2027-03-27T18:00:00Z"))),
    "2027-03-28T08:00:00.000Z",
  );
});

Deno.test("window: only IANA zones are time zones", () => {
  assert.equal(isTimeZone("America/New_York"), true);
  assert.equal(isTimeZone("Mars/Olympus"), false);
  assert.equal(isTimeZone(""), false);
});
