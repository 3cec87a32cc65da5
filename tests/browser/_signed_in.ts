/**
 * A Parley with the fakes, a call database and leads in a temporary folder, and a browser page
 * signed in through the real `/login` form.
 *
 * @module
 */

import type { Page } from "playwright-core";
import { callDatabasePath, type CallStore, openCallStore } from "../../src/store/sqlite/call_store.ts";
import { type LeadStore, openLeadStore } from "../../src/store/sqlite/leads.ts";
import { type FakeTwilioRest, startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";
import { startTestParley, TEST_AUTH_TOKEN, type TestParley } from "../../testing/parley_harness.ts";

/** The API token the browser signs in with. */
export const TEST_API_TOKEN = "browser-test-api-token-0123456789";
/** The fake Twilio account. */
export const TEST_ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);

/** Everything a browser test runs against; `await using` stops it all. */
export interface BrowserRig extends AsyncDisposable {
  parley: TestParley;
  twilioRest: FakeTwilioRest;
  store: CallStore;
  leads: LeadStore;
}

/** Starts Parley with a fake Twilio REST API and a call database on disk (personas: the tests' own). */
export async function startRig(
  options: { personasDir?: string; scenariosDir?: string; env?: Record<string, string> } = {},
): Promise<BrowserRig> {
  const dir = await Deno.makeTempDir({ prefix: "parley_browser_" });
  const path = callDatabasePath(dir);
  const store = openCallStore(path);
  const leads = openLeadStore(path);
  const twilioRest = startFakeTwilioRest({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  const parley = await startTestParley({
    ...(options.personasDir === undefined ? {} : { personasDir: options.personasDir }),
    ...(options.scenariosDir === undefined ? {} : { scenariosDir: options.scenariosDir }),
    store,
    leads,
    env: {
      API_TOKEN: TEST_API_TOKEN,
      TWILIO_ACCOUNT_SID: TEST_ACCOUNT_SID,
      TWILIO_PHONE_NUMBER: "+14155550199",
      TWILIO_API_BASE_URL: twilioRest.baseUrl,
      DEFAULT_PERSONA: "alex",
      ...options.env,
    },
  });
  return {
    parley,
    twilioRest,
    store,
    leads,
    async [Symbol.asyncDispose]() {
      await parley.close();
      await twilioRest.shutdown();
      store.close();
      leads.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Opens `path`, lands on the sign-in form, signs in with `token` and waits for the page. */
export async function signIn(
  page: Page,
  origin: string,
  path: string,
  token = TEST_API_TOKEN,
): Promise<void> {
  await page.goto(`${origin}${path}`);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${origin}${path}`);
  await page.waitForSelector("body[data-ready]");
}
