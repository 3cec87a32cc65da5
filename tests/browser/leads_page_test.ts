/**
 * The leads page in headless Chromium: it pages through many leads, and its import offers skip or
 * update for rows whose phone number is already a lead. The page runs under Parley's
 * Content-Security-Policy without a single violation.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { launchChromium } from "./_chromium.ts";
import { signIn, startRig } from "./_signed_in.ts";

Deno.test("leads page: pages of 100, and an import that skips or updates known numbers", async () => {
  await using rig = await startRig();
  await using browser = await launchChromium();
  const { origin } = rig.parley;
  await rig.leads.create(Array.from({ length: 130 }, (_, i) => ({
    name: `Lead ${String(i).padStart(3, "0")}`,
    phone: `+1415555${1000 + i}`,
    company: "",
    notes: "",
    fields: {},
  })));
  const page = await browser.context.newPage();
  page.setDefaultTimeout(10_000);
  const violations: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  page.on("pageerror", (e) => violations.push(e.message));

  await signIn(page, origin, "/leads");
  assert.equal(await page.locator("#page-info").innerText(), "Leads 1–100 of 130");
  assert.equal(await page.locator("#leads tr").count(), 100);
  assert.equal(await page.getByRole("button", { name: "Previous" }).isDisabled(), true);

  await page.getByRole("button", { name: "Next" }).click();
  await page.locator("#page-info", { hasText: "Leads 101–130 of 130" }).waitFor();
  assert.equal(await page.locator("#leads tr").count(), 30);
  assert.equal(await page.locator("#leads tr").first().locator("td").first().innerText(), "Lead 100");
  assert.equal(await page.getByRole("button", { name: "Next" }).isDisabled(), true);

  const csv = "name,phone,company\nLead 129 renamed,+1 415 555 1129,Acme\nNew Lead,+14155552000,\n";
  const importCsv = async (choice: string) => {
    await page.setInputFiles("#csv-file", {
      name: "again.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(csv),
    });
    await page.getByLabel("When a row's phone number is already a lead").selectOption({ label: choice });
    await page.getByRole("button", { name: "Import" }).click();
  };
  await importCsv("Skip the row (keep the lead as it is)");
  await page.locator("#import-result .ok", { hasText: "Imported 1 lead. Skipped 1 duplicate row." })
    .waitFor();
  assert.match(
    await page.locator(".import-duplicates").innerText(),
    /Line 2, \+14155551129: already lead #130 — skipped/,
  );
  // No row had an error: the summary has no error list, and no stray text where it would be.
  assert.doesNotMatch(await page.locator("#import-result").innerText(), /\bnull\b|undefined/);
  await importCsv("Update the lead from the row");
  await page.locator("#import-result .ok", { hasText: "Imported 0 leads. Updated 2 leads." }).waitFor();
  assert.match(
    await page.locator(".import-duplicates").innerText(),
    /Line 3, \+14155552000: already lead #131 — updated/,
  );
  assert.equal((await rig.leads.get(130))?.name, "Lead 129 renamed");
  assert.equal((await rig.leads.get(130))?.company, "Acme");
  assert.equal(await rig.leads.count(), 131, "nothing was imported twice");

  await page.getByRole("button", { name: "Previous" }).click();
  await page.locator("#page-info", { hasText: "Leads 1–100 of 131" }).waitFor();
  assert.deepEqual(violations, [], "no CSP violation, no page error");
});
