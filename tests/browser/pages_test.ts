/**
 * Parley's pages on a phone-sized screen (390 px) in real headless Chromium: no sideways
 * scrolling, every column visible, words instead of enums, empty states that say something, the
 * call page's lead, start and duration, the persona page's instructions and tools before the raw
 * JSON, a 404 page for a browser, and an icon.
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { launchChromium, screenshot } from "./_chromium.ts";
import { signIn, startRig, TEST_API_TOKEN } from "./_signed_in.ts";
import { TEST_PERSONAS_DIR, TEST_PUBLIC_BASE_URL } from "../../testing/parley_harness.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { within } from "../../testing/within.ts";

const PHONE = { width: 390, height: 844 };

/** A persona with two tools of its own and the built-in end_call. */
const DESK = `export default {
  description: "Front desk with tools",
  voice: "marin",
  instructions: "You answer the phone for Acme Parts. Look orders up with lookup_order.",
  endCall: true,
  tools: [
    {
      name: "lookup_order",
      description: "Find an order by its number.",
      parameters: { type: "object", properties: { order: { type: "string" } }, required: ["order"] },
      run: () => ({ status: "shipped" }),
    },
    { name: "book_slot", description: "Book a visit.", run: () => ({ booked: true }) },
  ],
};
`;

/** Fails unless the page fits the screen's width: nothing scrolls sideways. */
async function assertNoSidewaysScroll(page: Page, what: string): Promise<void> {
  const { scrollWidth, innerWidth } = await page.evaluate(() => {
    const g = globalThis as unknown as {
      document: { scrollingElement: { scrollWidth: number } };
      innerWidth: number;
    };
    return { scrollWidth: g.document.scrollingElement.scrollWidth, innerWidth: g.innerWidth };
  });
  assert.ok(
    scrollWidth <= innerWidth,
    `${what} scrolls sideways: ${scrollWidth} px wide on ${innerWidth} px`,
  );
}

/** Fails unless every element matching `selector` lies inside the screen's width. */
async function assertOnScreen(page: Page, selector: string): Promise<void> {
  const boxes = await page.locator(selector).evaluateAll((elements) =>
    elements.map((e) => {
      const box = e.getBoundingClientRect();
      return { left: box.left, right: box.right, width: box.width, text: e.textContent };
    })
  );
  assert.ok(boxes.length > 0, `nothing matches ${selector}`);
  for (const box of boxes) {
    assert.ok(
      box.width > 0 && box.left >= 0 && box.right <= PHONE.width,
      `"${box.text}" (${selector}) is off screen: ${box.left}–${box.right} px`,
    );
  }
}

/** The page's visible text must hold no raw enum or API path. */
async function assertFriendly(page: Page, what: string): Promise<void> {
  const text = await page.locator("main").innerText();
  for (
    const raw of [/never_connected/, /caller_hung_up/, /CallStatus=/, /\bin-progress\b/, /\/api\//, /ended: /]
  ) {
    assert.doesNotMatch(text, raw, `${what} shows ${raw}`);
  }
}

Deno.test("pages at 390 px: fit the screen, say things in words, and show what a newcomer needs", async (t) => {
  await withPersonaDir({ "desk.ts": DESK }, async (extra) => {
    // The tests' own personas plus one with tools, in one folder.
    for (const name of ["alex.ts", "tester.ts", "quiet.ts"]) {
      await Deno.copyFile(`${TEST_PERSONAS_DIR}${name}`, `${extra}/${name}`);
    }
    await using rig = await startRig({ personasDir: extra });
    await using browser = await launchChromium();
    const { origin } = rig.parley;
    const page = await browser.context.newPage();
    await page.setViewportSize(PHONE);
    page.setDefaultTimeout(10_000);
    page.on("pageerror", (e) => console.log(`[page error] ${e.message}`));
    const missing: string[] = [];
    page.on("response", (r) => {
      if (r.status() === 404) missing.push(r.url());
    });
    let failed = false;
    const step = async (name: string, body: () => Promise<void>) => {
      if (!failed) failed = !(await t.step(name, body));
    };

    await step("/calls with no calls says so, and where to start one", async () => {
      await signIn(page, origin, "/calls");
      const empty = page.locator("#calls-empty");
      assert.match(await empty.innerText(), /No calls yet\.[\s\S]*Start one on the Calling page/);
      assert.equal(await page.locator("table").isVisible(), false, "no bare table header");
      await assertNoSidewaysScroll(page, "/calls (empty)");
      await screenshot(page, "phone-calls-empty");
    });

    await step("an icon is served, on every page and at /favicon.ico", async () => {
      const href = await page.locator('link[rel="icon"]').getAttribute("href");
      assert.equal(href, "/web/favicon.svg");
      for (const path of [href, "/favicon.ico"]) {
        const response = await fetch(`${origin}${path}`);
        assert.equal(response.status, 200, path);
        assert.equal(response.headers.get("content-type"), "image/svg+xml");
        assert.match(await response.text(), /^<svg /);
      }
    });

    await step("an unknown address: an HTML page for a browser, JSON for a script", async () => {
      const response = await page.goto(`${origin}/no-such-page`);
      assert.equal(response?.status(), 404);
      assert.match(response?.headers()["content-type"] ?? "", /^text\/html/);
      assert.equal(await page.locator("h1").innerText(), "Page not found");
      await page.getByRole("link", { name: "Calls" }).last().waitFor();
      await assertFriendly(page, "the 404 page");
      await assertNoSidewaysScroll(page, "the 404 page");
      const script = await fetch(`${origin}/no-such-page`, { headers: { accept: "application/json" } });
      assert.equal(script.status, 404);
      assert.deepEqual(await script.json(), { error: "No route for GET /no-such-page" });
      missing.length = 0;
    });

    // A placed call the lead's line was busy for: Twilio reports ringing, then busy.
    const placed = await fetch(`${origin}/api/calls`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_API_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ to: "+14155550100", persona: "alex", parameters: { lead: "Dana Scully" } }),
    });
    assert.equal(placed.status, 201);
    const busySid = (await placed.json()).callSid as string;
    const status = async (CallStatus: string, sequence: number, extra: Record<string, string> = {}) => {
      const form = { CallSid: busySid, CallStatus, SequenceNumber: String(sequence), ...extra };
      const response = await fetch(`${origin}/api/twilio/status`, {
        method: "POST",
        headers: {
          ...rig.parley.twilioHeaders(`${TEST_PUBLIC_BASE_URL}/api/twilio/status`, form),
          "content-type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams(form),
      });
      assert.equal(response.status, 204);
    };
    await status("ringing", 1);
    await status("busy", 2, { CallDuration: "0", SipResponseCode: "486" });
    await within(rig.parley.waitForEvent("call.ended", (e) => e.callSid === busySid), "the busy call's end");

    await step(
      "a live call's page: lead, start, a running duration, 'Cost so far' until it ends",
      async () => {
        const call = await rig.parley.startCall({ persona: "alex", lead: "Fox Mulder" });
        await within(rig.parley.waitForEvent("call.started", (e) => e.callSid === call.callSid), "the start");
        const session = await within(rig.parley.upstream.session(0), "the upstream session");
        session.send({
          type: "conversation.item.input_audio_transcription.completed",
          item_id: "item_caller_1",
          content_index: 0,
          transcript: "Hello? Who is calling about the order number 1234567890123456789?",
        });
        await page.goto(`${origin}/calls/${call.callSid}`);
        await page.waitForSelector("body[data-ready]");
        await page.locator("#status", { hasText: /^In progress$/ }).waitFor();
        await page.locator("#transcript li.caller", { hasText: "Who is calling" }).waitFor();
        assert.equal(await page.locator("#lead").innerText(), "Fox Mulder");
        assert.notEqual(await page.locator("#started").innerText(), "—");
        await page.locator("#duration", { hasText: /^\d+ s$/ }).waitFor();
        assert.equal(await page.locator("#cost-label").innerText(), "Cost so far");
        await assertNoSidewaysScroll(page, "a live call's page");
        await screenshot(page, "phone-call-live");
        call.stop();
        await page.locator("#status", { hasText: /^Ended: the caller hung up$/ }).waitFor();
        await page.locator("#cost-label", { hasText: /^Cost$/ }).waitFor();
        assert.match(await page.locator("#duration").innerText(), /^\d+ s$/);
        await assertFriendly(page, "an ended call's page");
      },
    );

    await step("a busy call's page says 'Line busy', in words, with the lead's name", async () => {
      await page.goto(`${origin}/calls/${busySid}`);
      await page.waitForSelector("body[data-ready]");
      assert.equal(await page.locator("#status").innerText(), "Line busy");
      assert.equal(await page.locator("#lead").innerText(), "Dana Scully");
      assert.equal(await page.locator("#duration").innerText(), "never connected");
      assert.equal(await page.locator("#cost-label").innerText(), "Cost");
      const statuses = await page.locator("#statuses").innerText();
      assert.match(statuses, /Ringing/);
      assert.match(statuses, /Line busy \(after 0 s · SIP code 486\)/);
      await assertFriendly(page, "a busy call's page");
      await assertNoSidewaysScroll(page, "a busy call's page");
      await screenshot(page, "phone-call-busy");
    });

    await step("/calls at 390 px shows every column of each call, Status and Cost included", async () => {
      await page.goto(`${origin}/calls`);
      await page.waitForSelector("body[data-ready]");
      await page.locator("#calls tr").nth(1).waitFor();
      assert.equal(await page.locator("#calls-empty").isVisible(), false);
      await assertOnScreen(page, '#calls td[data-label="Status"]');
      await assertOnScreen(page, '#calls td[data-label="Cost"]');
      await assertOnScreen(page, '#calls td[data-label="Call"] a');
      const rows = await page.locator("#calls").innerText();
      assert.match(rows, /Line busy/);
      assert.match(rows, /Ended: the caller hung up/);
      await assertFriendly(page, "/calls");
      await assertNoSidewaysScroll(page, "/calls");
      await screenshot(page, "phone-calls");
      await page.getByLabel("Script", { exact: true }).selectOption("tester");
      await page.locator("#calls-status", { hasText: "No calls match these filters" }).waitFor();
      assert.equal(await page.locator("table").isVisible(), false);
    });

    await step("an unknown call's page says so in words, without API paths", async () => {
      await page.goto(`${origin}/calls/CA00000000000000000000000000000000`);
      await page.waitForSelector("body[data-ready]");
      assert.match(await page.locator("#problem").innerText(), /Parley has no record of this call/);
      await assertFriendly(page, "an unknown call's page");
    });

    await step("the persona page shows instructions and tools first, the raw messages folded", async () => {
      await page.goto(`${origin}/personas/desk`);
      await page.waitForSelector("body[data-ready]");
      await page.locator("#instructions", { hasText: "Acme Parts" }).waitFor();
      const tools = await page.locator("#tools li").allInnerTexts();
      assert.equal(tools.length, 3);
      assert.match(tools[0]!, /^lookup_order — Find an order by its number\.\s+Arguments: order: string$/);
      assert.match(tools[1]!, /^book_slot — Book a visit\.\s+No arguments\.$/);
      assert.match(tools[2]!, /^end_call — Hang up the call\./);
      assert.equal(await page.locator("#raw").getAttribute("open"), null, "the raw JSON is folded");
      assert.equal(await page.locator("#opening").isVisible(), false);
      const order = await page.evaluate(() => {
        const d = (globalThis as unknown as {
          document: { getElementById(id: string): { compareDocumentPosition(o: unknown): number } };
        }).document;
        // 4: DOCUMENT_POSITION_FOLLOWING
        return [
          d.getElementById("instructions").compareDocumentPosition(d.getElementById("opening")) & 4,
          d.getElementById("tools").compareDocumentPosition(d.getElementById("opening")) & 4,
        ];
      });
      assert.deepEqual(order, [4, 4], "instructions and tools come before the raw messages");
      await page.locator("#raw summary").click();
      assert.match(await page.locator("#opening").innerText(), /"type": "session.update"/);
      await assertNoSidewaysScroll(page, "the persona page");
      await screenshot(page, "phone-persona");
    });

    await step("an unknown persona's page names the known ones, without API paths", async () => {
      await page.goto(`${origin}/personas/nobody`);
      await page.waitForSelector("body[data-ready]");
      assert.equal(await page.locator("h1").innerText(), "No such persona");
      await page.getByRole("link", { name: "desk" }).waitFor();
      await assertFriendly(page, "an unknown persona's page");
    });

    await step("no page asked for something that is not there (the icon included)", () => {
      assert.deepEqual(
        missing.filter((url) => !/\/api\/calls\/CA0{32}$|\/api\/personas\/nobody$/.test(url)),
        [],
      );
      return Promise.resolve();
    });
    await page.close();
  });
});
