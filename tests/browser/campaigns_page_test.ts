/**
 * The campaigns page in headless Chromium, at desktop width and at 390 px: create a campaign from a
 * tag, watch it dial, pause and resume it, read its results with words for outcomes, export them,
 * keep the do-not-call list (one number, then a CSV import with a bad line); create a draft from
 * selected leads and one from an uploaded CSV outside its calling hours, check what the API then
 * holds, and the next window the page shows (the dialer's clock is fake, the browser's zone is set to
 * New York); no sideways scrolling and no Content-Security-Policy violation.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { launchChromium, screenshot } from "./_chromium.ts";
import { signIn } from "./_signed_in.ts";
import { API_TOKEN, startCampaignParley } from "../dialer/_campaign_parley.ts";

const MONDAY_10_NY = Date.parse("2026-12-07T15:00:00Z");

for (
  const [label, viewport] of [["desktop", { width: 1100, height: 900 }], ["390 px", {
    width: 390,
    height: 844,
  }]] as const
) {
  Deno.test(`campaigns page (${label}): create from a tag, dial, pause, resume, results, export, do-not-call (add, remove, CSV import), create from selected leads and from a CSV, next window`, async () => {
    await using c = await startCampaignParley(MONDAY_10_NY, {}, undefined, { shared: true });
    await using browser = await launchChromium();
    const imported = await c.api(
      "POST",
      "/api/leads/import",
      "name,phone,tags\nAda Lovelace,+14155550100,december\nBob Babbage,+14155550101,december\nCy Other,+14155550102,\n",
    );
    await imported.body?.cancel();
    const page = await browser.context.newPage();
    await page.setViewportSize(viewport);
    // The browser's clock reads New York, in English: the page's times are then known strings.
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send("Emulation.setTimezoneOverride", { timezoneId: "America/New_York" });
    await cdp.send("Emulation.setLocaleOverride", { locale: "en-US" });
    /** The lines of a campaign's results CSV, up to its skip reason, without the header. */
    const resultLines = async (id: number) =>
      (await (await c.api("GET", `/api/campaigns/${id}/results.csv`)).text()).trim().split("\r\n").slice(1)
        .map((line) => line.split(",").slice(0, 7).join(","));
    page.setDefaultTimeout(10_000);
    const violations: string[] = [];
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    page.on("pageerror", (e) => violations.push(e.message));

    await signIn(page, c.t.origin, "/campaigns", API_TOKEN);
    assert.equal(await page.locator("#campaigns").innerText(), "No campaigns yet: create one above.");

    // A bad time zone is refused next to its field.
    await page.getByLabel("Name", { exact: true }).fill("December");
    await page.getByLabel("Persona").selectOption("alex");
    await page.getByLabel("Leads with a tag").check();
    await page.getByLabel("Tag", { exact: true }).fill("december");
    await page.getByLabel("Time zone").fill("Mars/Olympus");
    await page.getByRole("button", { name: "Create campaign" }).click();
    await page.locator("[id='window.timezone-error']", { hasText: "not an IANA time zone" }).waitFor();
    await page.getByLabel("Time zone").fill("America/New_York");
    await page.getByLabel("Calls at once").fill("1");
    await page.getByRole("button", { name: "Create campaign" }).click();
    const row = page.locator("#campaigns tr", { hasText: "December" });
    await row.locator(".state", { hasText: "Running" }).waitFor();

    // The dialer places the first call: it shows in progress, with a link to its live view.
    await c.t.parley.dialer!.tick();
    const placed = await c.t.waitForEvent("call.placed");
    await page.locator("#in-progress a", { hasText: placed.to }).waitFor();
    assert.equal(
      await page.locator("#in-progress a").getAttribute("href"),
      `/calls/${placed.callSid}`,
    );

    await page.getByRole("button", { name: "Pause December" }).click();
    await row.locator(".state", { hasText: "Paused" }).waitFor();
    await c.status(placed.callSid, { CallStatus: "busy", SipResponseCode: "486" });
    await c.t.parley.dialer!.settled();
    await page.getByRole("button", { name: "Resume December" }).click();
    await row.locator(".state", { hasText: /Running|Waiting/ }).waitFor();
    // The result says what Twilio said of the call, in the call page's words: its SIP code beside "Busy".
    await page.locator("#results td", { hasText: "Busy (SIP code 486)" }).waitFor();
    // The call's outcome from post-call analysis shows in words beside its result.
    const analyses = c.store.analyses!;
    const spec = { persona: "alex", model: "gpt-5-mini", schema: {}, instructions: null };
    await analyses.enqueue(placed.callSid, spec, c.clock.now);
    await analyses.claim(c.store.instance, c.clock.now, 1, 60_000);
    await analyses.succeed(placed.callSid, {
      at: c.clock.now,
      outcome: { interested: false, nextStep: "call in January" },
      usage: { inputTokens: 1, cachedInputTokens: 0, outputTokens: 1 },
      costUsd: 0.0001,
    });
    await page.locator("#results td.outcome", { hasText: "interested: no, next step: call in January" })
      .waitFor();

    await page.getByRole("button", { name: "Stop December" }).click();
    await row.locator(".state", { hasText: "Stopped" }).waitFor();
    assert.equal(
      await page.getByRole("link", { name: "Export results (CSV)" }).getAttribute("href"),
      "/api/campaigns/1/results.csv",
    );
    const csv = await page.evaluate(async () => await (await fetch("/api/campaigns/1/results.csv")).text());
    assert.match(
      csv,
      /^lead_id,name,phone,attempts,state,disposition,skipped,last_call_sid,last_detail,outcome_state,outcome_error,outcome\.interested,outcome\.nextStep\r\n/,
    );

    await page.getByLabel("Number").fill("+1 415 555 0199");
    await page.getByRole("button", { name: "Add to the list" }).click();
    await page.locator("#dnc-list li", { hasText: "+14155550199 (added" }).waitFor();
    await page.getByRole("button", { name: "Remove +14155550199" }).click();
    await page.locator("#dnc-list li").waitFor({ state: "detached" });

    // A CSV of numbers: its good lines join the list, its bad line is named by its line number.
    await page.getByLabel("CSV file with a phone column").setInputFiles({
      name: "dnc.csv",
      mimeType: "text/csv",
      buffer: Buffer.from("name,phone\nDee,+14155550188\nEve,555-0101\nFay,+1 415 555 0189\n"),
    });
    await page.getByRole("button", { name: "Import numbers" }).click();
    await page.locator("#dnc-import-result .ok").waitFor();
    assert.equal(
      await page.locator("#dnc-import-result .ok").innerText(),
      "✔ Added 2 numbers to the list.",
    );
    assert.equal(
      await page.locator("#dnc-import-result .import-errors").innerText(),
      'Line 3: "555-0101" is not an E.164 number',
    );
    await page.locator("#dnc-list li", { hasText: "+14155550189 (imported" }).waitFor();
    assert.deepEqual(
      (await page.locator("#dnc-list li").allInnerTexts()).map((li) => li.split(" ")[0]).sort(),
      ["+14155550188", "+14155550189"],
    );
    const listed = await c.api("GET", "/api/dnc");
    const { numbers } = await listed.json() as { numbers: { phone: string; source: string }[] };
    assert.deepEqual(numbers.map((n) => [n.phone, n.source]).sort(), [
      ["+14155550188", "csv"],
      ["+14155550189", "csv"],
    ]);

    // From selected leads, as a draft: the API holds those two leads, waiting to be dialled.
    const { leads } = await (await c.api("GET", "/api/leads")).json() as {
      leads: { id: number; name: string; phone: string }[];
    };
    const idOf = (name: string) => leads.find((lead) => lead.name === name)!.id;
    await page.getByLabel("Name", { exact: true }).fill("Picked");
    await page.getByLabel("Selected leads").check();
    await page.getByLabel("Leads to call").selectOption([
      { label: "Ada Lovelace (+14155550100)" },
      { label: "Cy Other (+14155550102)" },
    ]);
    await page.getByLabel("Start now").uncheck();
    await page.getByRole("button", { name: "Create campaign" }).click();
    const pickedRow = page.locator("#campaigns tr", { hasText: "Picked" });
    await pickedRow.locator(".state", { hasText: "Draft" }).waitFor();
    const picked =
      await (await c.api("GET", `/api/campaigns/${await pickedRow.getAttribute("data-campaign")}`))
        .json();
    assert.equal(picked.name, "Picked");
    assert.equal(picked.state, "draft");
    assert.equal(picked.persona, "alex");
    assert.equal(picked.leads, 2);
    assert.equal(picked.counts.byState.pending, 2);
    assert.equal(picked.counts.attempts, 0);
    assert.deepEqual(await resultLines(picked.id), [
      `${idOf("Ada Lovelace")},Ada Lovelace,+14155550100,0,pending,,`,
      `${idOf("Cy Other")},Cy Other,+14155550102,0,pending,,`,
    ]);

    // From a CSV file, started, with calling hours from 13:00: at 10:00 in New York it waits for them.
    // Its bad number, its duplicate and its number on the do-not-call list are skipped with the reason.
    await page.getByLabel("Name", { exact: true }).fill("Upload");
    await page.getByLabel("A CSV file").check();
    await page.getByLabel("CSV file of leads").setInputFiles({
      name: "leads.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(
        "name,phone,timezone\nGus,+14155550120,\nHal,+1 415 555 0121,America/Los_Angeles\n" +
          "Ivy,555-0122,\nJo,+14155550120,\nKim,+14155550188,\n",
      ),
    });
    await page.getByLabel("From").fill("13:00");
    await page.getByLabel("Start now").check();
    await page.getByRole("button", { name: "Create campaign" }).click();
    const uploadRow = page.locator("#campaigns tr", { hasText: "Upload" });
    await uploadRow.waitFor();
    const uploadId = Number(await uploadRow.getAttribute("data-campaign"));
    await c.t.parley.dialer!.tick();
    await uploadRow.locator(".state", { hasText: "Waiting for calling hours" }).waitFor();
    const upload = await (await c.api("GET", `/api/campaigns/${uploadId}`)).json();
    assert.equal(upload.state, "waiting");
    assert.deepEqual(upload.window, { ...upload.window, start: "13:00", end: "17:00" });
    assert.equal(upload.leads, 5);
    assert.deepEqual(upload.counts.byState, { pending: 2, dialing: 0, done: 0, skipped: 3 });
    assert.deepEqual(upload.counts.skipped, { bad_number: 1, do_not_call: 1, duplicate: 1, stopped: 0 });
    assert.equal(upload.counts.attempts, 0, "nothing is dialled outside the calling hours");
    // The next window is 13:00 in New York (Hal's own zone opens at 13:00 in Los Angeles, later).
    assert.equal(new Date(upload.nextTryAt).toISOString(), "2026-12-07T18:00:00.000Z");
    assert.deepEqual(await resultLines(uploadId), [
      ",Gus,+14155550120,0,pending,,",
      ",Hal,+14155550121,0,pending,,",
      ",Ivy,555-0122,0,skipped,,bad_number",
      ",Jo,+14155550120,0,skipped,,duplicate",
      ",Kim,+14155550188,0,skipped,,do_not_call",
    ]);
    const skippedRows = (await (await c.api("GET", `/api/campaigns/${uploadId}/calls`)).json()).calls as {
      name: string;
      skipped: string;
    }[];
    assert.deepEqual(skippedRows.map((row) => [row.name, row.skipped]), [
      ["Ivy", "bad_number"],
      ["Jo", "duplicate"],
      ["Kim", "do_not_call"],
    ]);
    // The page shows that next window, in the browser's zone (New York, set above), and none for the draft.
    assert.equal(
      (await uploadRow.locator("td").nth(3).innerText()).replace(/\s/g, " "),
      "12/7/2026, 1:00:00 PM",
    );
    assert.equal(await pickedRow.locator("td").nth(3).innerText(), "—");

    const { scrollWidth, innerWidth } = await page.evaluate(() => {
      const g = globalThis as unknown as {
        document: { scrollingElement: { scrollWidth: number } };
        innerWidth: number;
      };
      return { scrollWidth: g.document.scrollingElement.scrollWidth, innerWidth: g.innerWidth };
    });
    assert.ok(scrollWidth <= innerWidth, `the page scrolls sideways: ${scrollWidth} px on ${innerWidth} px`);
    const text = await page.locator("main").innerText();
    assert.doesNotMatch(text, /no-answer|voicemail_left|do_not_call/, "outcomes are in words");
    await screenshot(page, `campaigns-${label.replace(" ", "")}`);
    assert.deepEqual(violations, []);
    await page.close();
  });
}
