/**
 * The call page while a call's post-call analysis is still to come, in real headless Chromium against
 * Parley asking a fake Responses API whose first answer is a 503 (the analysis then waits to try
 * again): a look at the record that fails (the network drops) says so, and the page keeps looking
 * until the outcome comes.
 */

import { launchChromium } from "./_chromium.ts";
import { signIn } from "./_signed_in.ts";
import { API_TOKEN, runCall, startParley, withRig } from "../analysis/_analysis_rig.ts";
import { passThrough, startTcpProxy } from "../../testing/tcp_proxy.ts";
import { within } from "../../testing/within.ts";

const OUTCOME = { interested: true, meetingDay: "Tuesday", objections: [] };

Deno.test("call page: a failed look at the record says why, and the page keeps looking for the outcome", async () => {
  await withRig([{ status: 503, retryAfterMs: 5_000 }], OUTCOME, async (fake, dir, dataDir) => {
    const rig = await startParley(dir, dataDir, fake);
    try {
      const callSid = await runCall(rig.t);
      await within(rig.t.waitForLog(/Analysis try 1 of 8 failed .*503/), "the analysis's first try");
      // The page is served through a proxy the test can take down: then every connection is refused.
      let up = true;
      await using proxy = startTcpProxy(Number(new URL(rig.t.origin).port), async (client, server, close) => {
        if (up) return await passThrough(client, server, close);
        close(client);
        close(server);
      });
      const proxied = `http://127.0.0.1:${proxy.port}`;
      await using browser = await launchChromium();
      const page = await browser.context.newPage();
      page.setDefaultTimeout(10_000);
      page.on("pageerror", (e) => console.log(`[page error] ${e.message}`));
      await signIn(page, proxied, `/calls/${callSid}`, API_TOKEN);
      // The analysis is to come: the page looks at the record every 2 s.
      await page.locator("#outcome-state", { hasText: "being analysed" }).waitFor();

      const pollFailed = page.waitForEvent(
        "requestfailed",
        (request) => new URL(request.url()).pathname === `/api/calls/${callSid}`,
      );
      up = false;
      proxy.cutAll();
      await pollFailed;
      const failed = page.getByRole("alert").filter({ hasText: "Could not refresh this call" });
      await failed.waitFor();
      up = true;
      await page.locator("#outcome-state", { hasText: "Filled by gpt-5-mini after the call." }).waitFor();
      await failed.waitFor({ state: "hidden" });
      await page.close();
    } finally {
      await rig.close();
    }
  });
});
