/**
 * Action buttons whose request the API refuses, in real headless Chromium against Parley: the page
 * shows the API's reason and then what the API holds now. Starting a campaign another tab already
 * started (409), removing a number from the do-not-call list someone already removed (404), deleting
 * a lead someone already deleted (404).
 */

import assert from "node:assert/strict";
import { launchChromium } from "./_chromium.ts";
import { signIn } from "./_signed_in.ts";
import { API_TOKEN, startCampaignParley } from "../dialer/_campaign_parley.ts";

Deno.test("refused actions: a double campaign start, a number removed twice, a lead deleted twice say why", async (t) => {
  await using c = await startCampaignParley(Date.parse("2026-12-07T15:00:00Z"), {}, undefined, {
    shared: true,
  });
  await using browser = await launchChromium();
  const { origin } = c.t;
  const imported = await c.api("POST", "/api/leads/import", "name,phone\nAda Lovelace,+14155550100\n");
  await imported.body?.cancel();
  const page = await browser.context.newPage();
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(e.message));
  // The page's timers run on a clock the test can stop: the campaigns page refreshes every 2 s.
  await page.clock.install();
  await signIn(page, origin, "/campaigns", API_TOKEN);

  await t.step("a campaign started elsewhere: Start says it is running already", async () => {
    await page.getByLabel("Name", { exact: true }).fill("Twice");
    await page.getByLabel("Persona").selectOption("alex");
    await page.getByLabel("Leads to call").selectOption({ label: "Ada Lovelace (+14155550100)" });
    await page.getByLabel("Start now").uncheck();
    await page.getByRole("button", { name: "Create campaign" }).click();
    const row = page.locator("#campaigns tr", { hasText: "Twice" });
    await row.locator(".state", { hasText: "Draft" }).waitFor();
    const id = await row.getAttribute("data-campaign");
    // The page's refresh stops: it still shows the draft when another tab starts it. (A second ahead of
    // the page's clock: a loaded machine may take a while between reading it and pausing it, and a
    // pause in the past is refused. The campaign is still a draft until the API starts it below.)
    await page.clock.pauseAt(await page.evaluate(() => Date.now()) + 1_000);
    const started = await c.api("POST", `/api/campaigns/${id}/start`);
    assert.equal(started.status, 200);
    await started.body?.cancel();
    await page.getByRole("button", { name: "Start Twice" }).click();
    await page.getByRole("alert").filter({ hasText: `Campaign ${id} is running: start needs draft` })
      .waitFor();
    // Then it shows the campaign as the API has it.
    await row.locator(".state", { hasText: "Running" }).waitFor();
    await page.getByRole("button", { name: "Stop Twice" }).click();
    await row.locator(".state", { hasText: "Stopped" }).waitFor();
    assert.equal(
      await page.getByRole("alert").filter({ hasText: "start needs draft" }).count(),
      0,
      "cleared",
    );
  });

  await t.step("a number removed elsewhere: Remove says it is not on the list", async () => {
    await page.getByLabel("Number").fill("+14155550177");
    await page.getByRole("button", { name: "Add to the list" }).click();
    await page.locator("#dnc-list li", { hasText: "+14155550177" }).waitFor();
    const removed = await c.api("DELETE", `/api/dnc/${encodeURIComponent("+14155550177")}`);
    assert.equal(removed.status, 200);
    await removed.body?.cancel();
    await page.getByRole("button", { name: "Remove +14155550177" }).click();
    await page.getByRole("alert").filter({ hasText: "+14155550177 is not on the do-not-call list" })
      .waitFor();
    await page.locator("#dnc-list li").waitFor({ state: "detached" });
  });

  await t.step("a lead deleted elsewhere: Delete says it is not found", async () => {
    await page.goto(`${origin}/leads`);
    await page.waitForSelector("body[data-ready]");
    const [ada] = await c.store.leads.list();
    const deleted = await c.api("DELETE", `/api/leads/${ada!.id}`);
    assert.equal(deleted.status, 204);
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Delete Ada Lovelace" }).click();
    await page.getByRole("alert").filter({ hasText: `Lead ${ada!.id} not found` }).waitFor();
    await page.locator("#page-info", { hasText: "No leads yet" }).waitFor();
  });
  assert.deepEqual(problems, []);
  await page.close();
});
