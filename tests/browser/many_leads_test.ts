/**
 * Pages that list leads, in real headless Chromium, with more leads than one page of the API holds
 * (1000, by name): the leads page's Call link to a lead past the first 1000 opens the calling page
 * with that lead picked and its number filled in; the campaigns page's "Selected leads" and the
 * calls list's lead filter offer every lead.
 */

import assert from "node:assert/strict";
import { launchChromium } from "./_chromium.ts";
import { signIn } from "./_signed_in.ts";
import { API_TOKEN, startCampaignParley } from "../dialer/_campaign_parley.ts";

Deno.test("pages with 1001 leads: Call on the last one fills the calling page; campaigns and calls offer it", async (t) => {
  await using c = await startCampaignParley(Date.parse("2026-12-07T15:00:00Z"), {}, undefined, {
    shared: true,
  });
  await using browser = await launchChromium();
  const { origin } = c.t;
  // 1000 leads named "Lead …", then one whose name sorts after them all: the 1001st by name.
  await c.store.leads.create(Array.from({ length: 1000 }, (_, i) => ({
    name: `Lead ${String(i).padStart(4, "0")}`,
    phone: `+1415${5550000 + i}`,
    company: "",
    notes: "",
    fields: {},
  })));
  const [zoe] = await c.store.leads.create([{
    name: "Zoe Zed",
    phone: "+14155559999",
    company: "Zed Co",
    notes: "",
    fields: { plan: "pro" },
  }]);
  const page = await browser.context.newPage();
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(e.message));
  await signIn(page, origin, "/leads", API_TOKEN);

  await t.step(
    "/calling?lead=<id> (the leads page's Call link) picks a lead past the first 1000 and fills its number",
    async () => {
      await page.goto(`${origin}/calling?lead=${zoe!.id}`);
      await page.waitForSelector("body[data-ready]");
      assert.equal(await page.getByLabel("Number to call").inputValue(), "+14155559999");
      assert.equal(await page.locator("#lead option:checked").innerText(), "Zoe Zed (+14155559999) — Zed Co");
      assert.match(await page.getByLabel("Parameters").inputValue(), /lead=Zoe Zed[\s\S]*plan=pro/);
      assert.equal(await page.locator("#lead option", { hasText: "Zoe Zed" }).count(), 1, "listed once");
    },
  );

  await t.step("the campaigns page's Selected leads offers it", async () => {
    await page.goto(`${origin}/campaigns`);
    await page.waitForSelector("body[data-ready]");
    assert.equal(await page.locator("#lead-ids option").count(), 1001);
    assert.equal(await page.locator("#lead-ids option", { hasText: "Zoe Zed (+14155559999)" }).count(), 1);
  });

  await t.step("the calls list's lead filter offers it", async () => {
    await page.goto(`${origin}/calls`);
    await page.waitForSelector("body[data-ready]");
    assert.equal(await page.locator("#f-lead option", { hasText: "Zoe Zed (+14155559999)" }).count(), 1);
  });
  assert.deepEqual(problems, []);
  await page.close();
});
