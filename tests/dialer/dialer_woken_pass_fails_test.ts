/**
 * A dialer pass woken by the API (a campaign started) or by a call's end (its final status settled)
 * that fails on the store (a locked database, say) is logged and counted as a failed pass, like one
 * the loop ran; the server goes on. Nobody awaits a woken pass, so before, its failure was an
 * unhandled rejection: the process died.
 */

import assert from "node:assert/strict";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import { callDatabasePath } from "../../src/store/sqlite/call_store.ts";
import type { Campaigns } from "../../src/store/ports.ts";
import { startTestParley, TEST_AUTH_TOKEN } from "../../testing/parley_harness.ts";
import { startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";
import { within } from "../../testing/within.ts";
import { STATUS_CALLBACK_PATH } from "../../src/paths.ts";

const API_TOKEN = "dialer-woken-api-token-0123456789";
const ACCOUNT_SID = `AC${"d".repeat(32)}`;
/** The CallSid the fake Twilio REST API gives its first call. */
const FIRST_CALL_SID = `CA${"1".padStart(32, "0")}`;

/** What a test gets: Parley with a campaign dialer (ticked by hand) over a SQLite store, and Twilio's REST fake. */
interface DialerRig {
  t: Awaited<ReturnType<typeof startTestParley>>;
  rest: ReturnType<typeof startFakeTwilioRest>;
  /** An API request with the token. */
  api(method: string, path: string, body?: unknown): Promise<Response>;
}

/**
 * Runs `body` against Parley whose dialer reads the campaigns through `override`: a method it returns
 * for a name replaces the store's own (`undefined`: the store's).
 */
async function withDialerRig(
  prefix: string,
  override: (name: string | symbol, store: Campaigns) => unknown,
  body: (rig: DialerRig) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  const store = openSqliteStore(callDatabasePath(dir), { instance: "test-host" });
  const campaigns = new Proxy(store.campaigns, {
    get: (target, name) => {
      const replaced = override(name, target);
      if (replaced !== undefined) return replaced;
      const value = Reflect.get(target, name);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as Campaigns;
  const rest = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  const t = await startTestParley({
    env: {
      API_TOKEN,
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_PHONE_NUMBER: "+14155550199",
      TWILIO_API_BASE_URL: rest.baseUrl,
    },
    leads: store.leads,
    campaigns: { campaigns, doNotCall: store.doNotCall, instance: store.instance, tickMs: 0 },
  });
  const api = (method: string, path: string, body?: unknown) =>
    fetch(`${t.origin}${path}`, {
      method,
      headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  try {
    await body({ t, rest, api });
  } finally {
    await t.close();
    await rest.shutdown();
    store.close();
    await store.closed;
    await Deno.remove(dir, { recursive: true });
  }
}

/** A campaign of one lead, open every hour of every day. */
function oneLeadCampaign(name: string, start?: true) {
  return {
    name,
    persona: "alex",
    leads: { csv: "name,phone\nAda,+14155551234" },
    ...(start === undefined ? {} : { start }),
    window: {
      timezone: "UTC",
      days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
      start: "00:00",
      end: "24:00",
    },
  };
}

Deno.test("a woken dialer pass that fails on the store is logged and counted; the server goes on", async () => {
  /** The error the store's campaign listing fails with now, if any. */
  let locked: string | undefined;
  const failingList = (name: string | symbol) =>
    name === "list" && locked !== undefined ? () => Promise.reject(new Error(locked)) : undefined;
  await withDialerRig("parley_woken_pass_", failingList, async ({ t, rest, api }) => {
    const created = await api("POST", "/api/campaigns", oneLeadCampaign("Woken"));
    assert.equal(created.status, 201);
    const { id } = await created.json();

    locked = "database is locked";
    // Starting it wakes the dialer; its pass fails on the store.
    const started = await api("POST", `/api/campaigns/${id}/start`);
    assert.equal(started.status, 200, await started.text());
    const line = await within(t.waitForLog(/Dialer: .*database is locked/), "the failed pass logged");
    assert.match(line, /Dialer: database is locked$/);
    const logged = t.logs.filter((l) => /Dialer: .*database is locked/.test(l.line));
    assert.deepEqual(logged.map((l) => l.level), ["error"], "logged once, as an error");

    const metrics = await (await api("GET", "/metrics")).text();
    assert.match(metrics, /^parley_dialer_pass_failures_total 1$/m);

    // The server goes on: once the store answers, a pass dials the lead.
    locked = undefined;
    await t.parley.dialer!.tick();
    const placed = rest.requests.filter((r) => r.method === "POST" && r.path.endsWith("/Calls.json"));
    assert.deepEqual(placed.map((r) => r.form.get("To")), ["+14155551234"]);
    assert.match(await (await api("GET", "/metrics")).text(), /^parley_dialer_pass_failures_total 1$/m);

    // Its final status settles the attempt, which wakes the dialer; that pass fails too, and is logged.
    locked = "database is locked again";
    const status = await t.postTwilio(STATUS_CALLBACK_PATH, {
      CallSid: FIRST_CALL_SID,
      CallStatus: "completed",
    });
    assert.equal(status.status, 204);
    await status.body?.cancel();
    await within(t.waitForLog(/Dialer: database is locked again$/), "the pass the call's end woke, logged");
    assert.match(await (await api("GET", "/metrics")).text(), /^parley_dialer_pass_failures_total 2$/m);
  });
});

Deno.test("a dialer whose start fails on the store puts back its claims on its next pass, then dials", async () => {
  /** Each call to releaseClaims, in order: whether it failed. */
  const releases: boolean[] = [];
  // The first (at start) meets a locked database; the store answers after that.
  const lockedOnce = (name: string | symbol, store: Campaigns) =>
    name !== "releaseClaims" ? undefined : (instance: string) => {
      if (releases.length === 0) {
        releases.push(false);
        return Promise.reject(new Error("database is locked"));
      }
      releases.push(true);
      return store.releaseClaims(instance);
    };
  await withDialerRig("parley_dialer_start_", lockedOnce, async ({ t, rest, api }) => {
    const line = await within(t.waitForLog(/Dialer: could not start/), "the failed start logged");
    assert.match(line, /Dialer: could not start: database is locked; each pass tries again$/);
    const created = await api("POST", "/api/campaigns", oneLeadCampaign("After a failed start", true));
    assert.equal(created.status, 201, await created.text());
    await t.parley.dialer!.tick();
    // The pass put back what a run before this one had claimed before it dialled, once.
    assert.deepEqual(releases, [false, true]);
    const placed = rest.requests.filter((r) => r.method === "POST" && r.path.endsWith("/Calls.json"));
    assert.deepEqual(placed.map((r) => r.form.get("To")), ["+14155551234"]);
    await t.parley.dialer!.tick();
    assert.deepEqual(releases, [false, true], "put back once, not on every pass");
  });
});
