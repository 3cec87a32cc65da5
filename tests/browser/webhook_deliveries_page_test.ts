/**
 * The call page's Webhooks section in headless Chromium: each message about the call with its state,
 * attempts and status codes; the Redeliver button sends it again with the same id.
 */

import assert from "node:assert/strict";
import { launchChromium } from "./_chromium.ts";
import { signIn } from "./_signed_in.ts";
import { within } from "../../testing/within.ts";
import { startWebhookReceiver } from "../../testing/webhook_receiver.ts";
import { API_TOKEN, SECRET, shortCall, startInstance } from "../webhooks/_call.ts";

Deno.test("the call page lists the call's webhooks with attempts and status codes, and redelivers one", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_webhooks_page_" });
  const receiver = await startWebhookReceiver(SECRET, "failing");
  // A clock that never moves: after the first failure, only the button sends again.
  const frozen = Date.now();
  const app = await startInstance(dataDir, receiver.url, { now: () => frozen });
  await using browser = await launchChromium();
  try {
    const callSid = await shortCall(app.t);
    await within(
      app.t.waitForLog(/Webhook call\.ended \S+ attempt 1 failed \(HTTP 500\)/),
      "the failed attempt",
    );
    await within(
      app.t.waitForLog(/Webhook call\.started \S+ attempt 1 failed \(HTTP 500\)/),
      "the failed attempt",
    );
    const page = await browser.context.newPage();
    await signIn(page, app.t.origin, `/calls/${callSid}`, API_TOKEN);

    const ended = page.locator('#webhooks li[data-webhook="call.ended"]');
    await ended.waitFor();
    const text = await ended.innerText();
    assert.match(text, /retrying: next try/);
    assert.match(text, /1 attempt/);
    assert.match(text, /last HTTP 500/);
    assert.match(text, /HTTP 500 \(alpha, \d+ ms\)/);
    assert.equal(await page.locator('#webhooks li[data-webhook="call.started"]').count(), 1);
    assert.equal(await page.locator("#webhooks-empty").isHidden(), true);

    await receiver.setMode("up");
    await ended.getByRole("button", { name: "Redeliver" }).click();
    await within(
      app.t.waitForLog(/Webhook call\.ended \S+ delivered \(HTTP 200, attempt 2\)/),
      "the redelivery",
    );
    const copies = receiver.received.filter((w) => w.id === `msg_call_ended_${callSid}`);
    assert.deepEqual(copies.map((w) => w.answered), [500, 200], "the same webhook-id again");
    await page.reload();
    await page.locator('#webhooks li[data-webhook="call.ended"][data-state="delivered"]').waitFor();
    assert.match(await ended.innerText(), /delivered .* 2 attempts · last HTTP 200/s);
    assert.equal(
      await page.locator('#webhooks li[data-webhook="call.started"][data-state="pending"]').count(),
      1,
      "only the one redelivered",
    );
  } finally {
    await app.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
