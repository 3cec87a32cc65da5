/**
 * The persona page's Rehearse button in headless Chromium: it runs the persona's scenarios against
 * this server through the virtual phone (both sessions played by the fake Realtime server, the judge
 * by the fake Responses API) and shows each run, its failed checks and the summary as they come in.
 */

import assert from "node:assert/strict";
import { FakeResponsesServer } from "../../testing/fake_responses.ts";
import { greetThenHangUp } from "../../testing/rehearsal_script.ts";
import { TEST_OPENAI_KEY } from "../../testing/parley_harness.ts";
import { launchChromium, screenshot } from "./_chromium.ts";
import { signIn, startRig } from "./_signed_in.ts";

Deno.test("the Rehearse button shows each run and the pass rate as they come in", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_rehearse_page_" });
  const responses = FakeResponsesServer.start(TEST_OPENAI_KEY, () => ({
    verdicts: [{ criterion: 1, pass: false, reason: "the agent never named the business" }],
  }));
  try {
    await Deno.writeTextFile(
      `${dir}/tester_greeting.ts`,
      `export default {
        persona: "tester",
        description: "says hello",
        caller: { instructions: "You are Sam. Say hi, then hang up." },
        expect: [
          { name: "caller hangs up", endReason: "caller_hung_up" },
          { name: "names the business", judge: "the agent said the name of the business" },
        ],
        runs: 1,
      };`,
    );
    // Another persona's scenario is not run.
    await Deno.writeTextFile(
      `${dir}/alex_other.ts`,
      `export default { persona: "alex", caller: { instructions: "x" }, expect: [{ name: "n", maxTurns: 3 }] };`,
    );
    await using rig = await startRig({ scenariosDir: dir, env: { OPENAI_BASE_URL: responses.baseUrl } });
    await using browser = await launchChromium();
    const { origin, upstream } = rig.parley;
    const page = await browser.context.newPage();
    page.setDefaultTimeout(15_000);
    await signIn(page, origin, "/personas/tester");

    const from = upstream.sessions.length;
    await page.getByRole("button", { name: "Rehearse" }).click();
    await greetThenHangUp(upstream, from);

    const run = page.locator("#rehearse-runs > li");
    await run.waitFor();
    const runText = await run.innerText();
    assert.match(runText, /✘ tester_greeting — run 1/);
    assert.match(runText, /names the business: the agent never named the business/);
    assert.match(await run.locator("a").getAttribute("href") ?? "", /^\/calls\/CA[0-9a-f]{32}$/);
    const summary = page.locator("#rehearse-summary > li");
    await summary.waitFor();
    assert.match(await summary.innerText(), /✘ tester_greeting: 0\/1 passed; .*cost \$\d+\.\d{4}/);
    assert.match(await page.locator("#rehearse-status").innerText(), /below their pass rate/);
    assert.equal(await page.locator("#rehearse-runs > li").count(), 1, "only the persona's scenario ran");
    await screenshot(page, "rehearse_button");
  } finally {
    await responses.close();
    await Deno.remove(dir, { recursive: true });
  }
});
