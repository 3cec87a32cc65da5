/**
 * The calling page in real headless Chromium against Parley with the fakes: sign in, import leads,
 * start a call with a chosen voice, watch it live, hang it up.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { launchChromium, screenshot } from "./_chromium.ts";
import { signIn, startRig, TEST_ACCOUNT_SID } from "./_signed_in.ts";
import { TEST_PUBLIC_BASE_URL } from "../../testing/parley_harness.ts";
import type { FakeTwilioCall } from "../../testing/fake_twilio.ts";
import { SHORT_ANSWER_USAGE, toneBytes } from "../../testing/fake_realtime.ts";
import { within } from "../../testing/within.ts";
import { passThrough, startTcpProxy } from "../../testing/tcp_proxy.ts";

const CSV = [
  "name,phone,company,notes,plan",
  "Dana Scully,+14155550100,Acme,Met at the expo,pro",
  "Bad Number,555-0101,Nowhere,,basic",
  '"Mulder, Fox",+14155550102,"X Files, Inc",,',
].join("\n");

Deno.test("calling page: sign in, import leads, start a call with a voice, watch it live, hang up", async (t) => {
  await using rig = await startRig();
  await using browser = await launchChromium();
  const { origin } = rig.parley;
  // Later steps build on earlier ones: after a failure they are left out instead of hanging.
  let failed = false;
  const step = async (name: string, body: () => Promise<void>) => {
    if (!failed) failed = !(await t.step(name, body));
  };
  const page = await browser.context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("console", (m) => console.log(`[page] ${m.text()}`));
  page.on("pageerror", (e) => console.log(`[page error] ${e.message}`));

  await step(
    "sign-in: a wrong token is refused next to the field, the right one opens /calling",
    async () => {
      await page.goto(`${origin}/calling`);
      assert.match(page.url(), /\/login\?next=%2Fcalling$/);
      await page.getByLabel("API token").fill("not-the-token");
      await page.getByRole("button", { name: "Sign in" }).click();
      const error = page.locator("#token-error");
      assert.match(await error.innerText(), /not the API_TOKEN/);
      assert.equal(await page.getByLabel("API token").getAttribute("aria-describedby"), "token-error");
      await signIn(page, origin, "/calling");
      const cookie = (await browser.context.cookies()).find((c) => c.name === "parley_session");
      assert.ok(cookie !== undefined);
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, "Strict");
      assert.ok(cookie.expires > Date.now() / 1000, "the cookie has an expiry");
    },
  );

  await step("leads: a CSV with one bad row keeps the good rows and reports the bad one", async () => {
    await page.goto(`${origin}/leads`);
    await page.waitForSelector("body[data-ready]");
    await page.setInputFiles("#csv-file", {
      name: "leads.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(CSV),
    });
    await page.getByRole("button", { name: "Import" }).click();
    await page.locator("#import-result .ok").waitFor();
    assert.match(await page.locator("#import-result").innerText(), /Imported 2 leads/);
    assert.match(
      await page.locator(".import-errors").innerText(),
      /Line 3, phone: "555-0101" is not an E\.164 number/,
    );
    await page.locator("#leads tr", { hasText: "Mulder, Fox" }).waitFor();
    assert.equal(await page.locator("#leads tr").count(), 2);
    const stored = (await rig.leads.list()).map((l) => [l.name, l.phone, l.company, l.fields]);
    assert.deepEqual(stored, [
      ["Dana Scully", "+14155550100", "Acme", { plan: "pro" }],
      ["Mulder, Fox", "+14155550102", "X Files, Inc", {}],
    ]);
  });

  let callSid = "";
  const calls: FakeTwilioCall[] = [];
  await step("/calling: pick the lead, the script and a male voice, start the call", async () => {
    await page.goto(`${origin}/calling`);
    await page.waitForSelector("body[data-ready]");
    await page.getByLabel("Lead", { exact: true }).selectOption({
      label: "Dana Scully (+14155550100) — Acme",
    });
    assert.equal(await page.getByLabel("Number to call").inputValue(), "+14155550100");
    await page.getByLabel("Script", { exact: true }).selectOption("alex");
    assert.match(await page.locator("#persona-description").innerText(), /Outbound sales rep/);
    await page.getByLabel("Male", { exact: true }).check();
    await page.locator("#voice option:checked", { hasText: "alloy" }).waitFor({ state: "attached" });
    assert.match(await page.locator("#voice option:checked").innerText(), /alloy — neutral, male/);
    await page.getByLabel("Detect answering machines").check();
    await screenshot(page, "calling");
    await page.getByRole("button", { name: "Start call" }).click();
    await page.waitForURL(/\/calls\/CA[0-9a-f]{32}$/);
    callSid = page.url().split("/").pop()!;
    await page.waitForSelector("body[data-ready]");
    assert.equal(await page.locator("#status").innerText(), "Waiting to dial");
  });

  await step("the fake Twilio REST API received the call, and the voice reaches session.update", async () => {
    const created = rig.twilioRest.requests.find((r) => r.path.endsWith("/Calls.json"));
    assert.ok(created !== undefined);
    assert.equal(created.form.get("To"), "+14155550100");
    // The box asks for the end of a machine's greeting, so the persona's voicemail can follow the beep.
    assert.equal(created.form.get("MachineDetection"), "DetectMessageEnd");
    const webhook = new URL(created.form.get("Url")!);
    assert.equal(webhook.searchParams.get("voice"), "alloy");
    assert.equal(webhook.searchParams.get("lead"), "Dana Scully");
    assert.equal(webhook.searchParams.get("plan"), "pro");

    // Twilio reports the phone ringing; the live page says so.
    const ringing = { CallSid: callSid, CallStatus: "ringing", SequenceNumber: "1" };
    const status = await fetch(`${origin}/api/twilio/status`, {
      method: "POST",
      headers: {
        ...rig.parley.twilioHeaders(`${TEST_PUBLIC_BASE_URL}/api/twilio/status`, ringing),
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams(ringing),
    });
    assert.equal(status.status, 204);
    await page.locator("#status", { hasText: /^Ringing$/ }).waitFor();

    // Twilio asks the webhook for TwiML, then opens the media stream with its <Parameter>s.
    const form = { CallSid: callSid, AccountSid: TEST_ACCOUNT_SID, Direction: "outbound-api" };
    const publicUrl = `${TEST_PUBLIC_BASE_URL}${webhook.pathname}${webhook.search}`;
    const twiml = await (await fetch(`${origin}${webhook.pathname}${webhook.search}`, {
      method: "POST",
      headers: {
        ...rig.parley.twilioHeaders(publicUrl, form),
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams(form),
    })).text();
    const parameters = Object.fromEntries(
      [...twiml.matchAll(/<Parameter name="([^"]+)" value="([^"]*)"\/>/g)].map((m) => [m[1]!, m[2]!]),
    );
    assert.equal(parameters.voice, "alloy");
    // The socket goes to the per-call stream URL (with its token) that the TwiML names.
    const streamUrl = twiml.match(/<Stream url="([^"]+)"/)?.[1];
    assert.ok(streamUrl !== undefined, `no stream in ${twiml}`);
    const call = await rig.parley.connectStream(streamUrl, callSid);
    call.start(parameters);
    const session = await within(rig.parley.upstream.session(0), "the upstream session");
    const update = await within(session.waitFor("session.update"), "session.update");
    assert.equal(update.session.audio.output.voice, "alloy");
    assert.match(update.session.instructions, /Dana Scully at Acme/);
    calls.push(call);
  });

  await step("the live view shows the transcript as it happens, both sides", async () => {
    const session = await within(rig.parley.upstream.session(0), "the upstream session");
    await page.locator("#status", { hasText: "In progress" }).waitFor();
    session.send({
      type: "conversation.item.input_audio_transcription.completed",
      item_id: "item_caller_1",
      content_index: 0,
      transcript: "Hi, who is this?",
    });
    await page.locator("#transcript li.caller", { hasText: "Hi, who is this?" }).waitFor();
    assert.equal(await page.locator("#voice").innerText(), "alloy", "the record shows the voice used");
    session.speechStopped();
    await session.streamResponse({
      responseId: "resp_1",
      itemId: "item_agent_1",
      audio: toneBytes(400, 0x55),
      transcript: "Hi Dana, this is Alex from Acme.",
      usage: SHORT_ANSWER_USAGE,
    });
    await page.locator("#transcript li.agent", { hasText: "Hi Dana, this is Alex from Acme." }).waitFor();
    await page.locator("#turns li").first().waitFor();
    // Figures the events do not carry come from the record: cost and p50/p95.
    await page.locator("#cost", { hasText: /^\$0\.0*[1-9]\d*$/ }).waitFor();
    await page.locator("#latency", { hasText: /^\d+ \/ \d+ ms$/ }).waitFor();
    await screenshot(page, "live-call");
  });

  await step("the live view reconnects when its connection drops, and catches up", async () => {
    const session = await within(rig.parley.upstream.session(0), "the upstream session");
    // The page is served through a pass-through whose connections are cut while the call goes on.
    await using proxy = startTcpProxy(Number(new URL(origin).port), passThrough);
    await page.goto(`http://127.0.0.1:${proxy.port}/calls/${callSid}`);
    await page.locator("#feed", { hasText: "live" }).waitFor();
    assert.equal(await page.locator("#transcript li").count(), 2);
    proxy.cutAll();
    await page.locator("#feed", { hasText: "reconnecting" }).waitFor();
    session.send({
      type: "conversation.item.input_audio_transcription.completed",
      item_id: "item_caller_2",
      content_index: 0,
      transcript: "Are you still there?",
    });
    await within(
      rig.parley.waitForEvent("transcript", (e) => e.text === "Are you still there?"),
      "the transcript",
    );
    await page.locator("#transcript li.caller", { hasText: "Are you still there?" }).waitFor();
    await page.locator("#feed", { hasText: "live" }).waitFor();
    assert.equal(
      await page.locator("#transcript li").count(),
      3,
      "the snapshot replaces, it does not duplicate",
    );
    await page.goto(`${origin}/calls/${callSid}`);
    await page.locator("#feed", { hasText: "live" }).waitFor();
  });

  await step("hang up goes through Twilio's REST API, and the page shows the end", async () => {
    await page.getByRole("button", { name: "Hang up" }).click();
    await page.locator("#status", { hasText: "hanging up" }).waitFor();
    const hangUp = rig.twilioRest.requests.find((r) => r.path.endsWith(`/Calls/${callSid}.json`));
    assert.ok(hangUp !== undefined, "Parley asked Twilio to end the call");
    assert.equal(hangUp.form.get("Status"), "completed");
    // Twilio ends the stream of a completed call; the stop is the user's hang-up, not the caller's.
    calls[0]!.stop();
    await within(calls[0]!.closed, "the media socket to close");
    await page.locator("#status", { hasText: "Ended: hung up from Parley" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Hang up" }).isVisible(), false);
  });

  await step("the calls list filters by lead and shows the call; the lead lists it", async () => {
    await page.goto(`${origin}/calls`);
    await page.waitForSelector("body[data-ready]");
    await page.getByLabel("Lead", { exact: true }).selectOption({ label: "Dana Scully (+14155550100)" });
    await page.locator("#calls tr", { hasText: callSid }).waitFor();
    await page.getByLabel("Lead", { exact: true }).selectOption({ label: "Mulder, Fox (+14155550102)" });
    await page.locator("#calls-status", { hasText: "No calls match these filters" }).waitFor();
    await page.getByLabel("Lead", { exact: true }).selectOption("");
    await page.getByLabel("How it ended").selectOption("hung_up_by_user");
    await page.locator("#calls tr", { hasText: callSid }).waitFor();
    await page.getByLabel("Script", { exact: true }).selectOption("tester");
    await page.locator("#calls-status", { hasText: "No calls match these filters" }).waitFor();

    await page.goto(`${origin}/leads`);
    await page.waitForSelector("body[data-ready]");
    await page.locator("#leads tr", { hasText: "Dana Scully" }).getByRole("button", { name: "Calls" })
      .click();
    await page.locator("#lead-calls-list a").first().waitFor();
    assert.match(await page.locator("#lead-calls-list").innerText(), /alex — hung_up_by_user/);
    const dana = (await rig.leads.list())[0]!;
    const response = await page.request.get(`${origin}/api/leads/${dana.id}`);
    assert.deepEqual((await response.json()).calls.map((c: { callSid: string }) => c.callSid), [callSid]);
  });
  await step("on a phone-sized screen, by keyboard alone: errors appear next to their field", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${origin}/calling`);
    await page.waitForSelector("body[data-ready]");
    const width = await page.evaluate(() =>
      (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document
        .documentElement.scrollWidth
    );
    assert.ok(width <= 390, `no sideways scrolling on a 390 px screen (page is ${width} px wide)`);
    await screenshot(page, "calling-phone");

    // Tab from the top of the page to the Start call button, and press Enter with no number.
    await page.locator("body").focus();
    for (
      let i = 0;
      i < 30 &&
      !(await page.getByRole("button", { name: "Start call" }).evaluate((b) =>
        b === b.ownerDocument.activeElement
      ));
      i++
    ) {
      await page.keyboard.press("Tab");
    }
    await page.keyboard.press("Enter");
    await page.locator("#to-error", { hasText: "Pick a lead or type the number to call" }).waitFor();
    assert.equal(await page.getByLabel("Number to call").getAttribute("aria-invalid"), "true");
    assert.equal(
      await page.getByLabel("Number to call").evaluate((e) => e === e.ownerDocument.activeElement),
      true,
    );

    // The server's refusal lands next to the field it names.
    await page.keyboard.type("+14155550100");
    await page.getByLabel("Parameters").fill("lead name=Dana");
    await page.getByLabel("Parameters").focus();
    await page.keyboard.press("Shift+Tab"); // back into the form, then submit with Enter on the button
    await page.getByRole("button", { name: "Start call" }).focus();
    await page.keyboard.press("Enter");
    await page.locator("#parameters-error", {
      hasText: /Field "parameters": name "lead name" is not allowed/,
    }).waitFor();
    assert.equal(await page.locator("#to-error").isVisible(), false, "the fixed field's error is gone");
  });
  await page.close();
});
