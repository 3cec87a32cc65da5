/**
 * The outcome in headless Chromium: the call page shows the analysis's fields in words, and the calls
 * list has a column per outcome field and an export link; no Content-Security-Policy violation.
 *
 * @module
 */

import assert from "node:assert/strict";
import { launchChromium, screenshot } from "./_chromium.ts";
import { signIn } from "./_signed_in.ts";
import { API_TOKEN, runCall, startParley, withRig } from "../analysis/_analysis_rig.ts";

Deno.test("the call page and the calls list show the call's outcome", async () => {
  const outcome = { interested: true, meetingDay: "Tuesday", objections: [] };
  await withRig([], outcome, async (fake, dir, dataDir) => {
    const rig = await startParley(dir, dataDir, fake);
    try {
      const callSid = await runCall(rig.t);
      await rig.t.waitForEvent("call.analyzed");
      await using browser = await launchChromium();
      const page = await browser.context.newPage();
      page.setDefaultTimeout(10_000);
      const violations: string[] = [];
      page.on("console", (m) => {
        if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
      });
      page.on("pageerror", (e) => violations.push(e.message));

      await signIn(page, rig.t.origin, `/calls/${callSid}`, API_TOKEN);
      assert.equal(await page.locator("#outcome-state").innerText(), "Filled by gpt-5-mini after the call.");
      const fields = await page.locator("#outcome > div").evaluateAll((divs) =>
        divs.map((d) => [d.querySelector("dt")?.textContent, d.querySelector("dd")?.textContent])
      );
      assert.deepEqual(fields, [["interested", "yes"], ["meeting day", "Tuesday"], ["objections", "none"]]);
      await screenshot(page, "call-outcome");

      await page.goto(`${rig.t.origin}/calls`);
      await page.waitForSelector("body[data-ready]");
      const head = await page.locator("#calls-head th").allInnerTexts();
      assert.deepEqual(head.slice(6).map((t) => t.toLowerCase()), [
        "interested",
        "meeting day",
        "objections",
      ]);
      const row = await page.locator("#calls tr").first().locator("td").allInnerTexts();
      assert.deepEqual(row.slice(6), ["yes", "Tuesday", "none"]);
      assert.equal(await page.locator("#export").getAttribute("href"), "/api/calls.csv?limit=500");
      await screenshot(page, "calls-outcome-columns");
      assert.deepEqual(violations, []);
    } finally {
      await rig.close();
    }
  });
});
