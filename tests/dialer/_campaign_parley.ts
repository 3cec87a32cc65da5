/**
 * A test Parley with campaigns over a fresh SQLite store, the fake Twilio REST API, and a fake clock
 * the dialer reads (its loop off: the test ticks it).
 */
import { type FakeTwilioRest, startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";
import { startTestParley, TEST_AUTH_TOKEN, type TestParley } from "../../testing/parley_harness.ts";
import { callDatabasePath } from "../../src/store/sqlite/call_store.ts";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import type { Campaigns, DoNotCallList, Store } from "../../src/store/ports.ts";
import { STATUS_CALLBACK_PATH } from "../../src/paths.ts";

export const ACCOUNT_SID = `AC${"c".repeat(32)}`;
export const API_TOKEN = "campaign-api-token-0123456789abcdef";

/** The running pieces. */
export interface CampaignParley extends AsyncDisposable {
  t: TestParley;
  rest: FakeTwilioRest;
  store: Store;
  clock: { now: number };
  /** Its DATA_DIR. */
  dir: string;
  /** An API request with the bearer token. */
  api(method: string, path: string, body?: unknown): Promise<Response>;
  /** Posts Twilio's signed status callback for `callSid`. */
  status(callSid: string, params: Record<string, string>): Promise<void>;
}

/** More of {@linkcode startCampaignParley}. */
export interface CampaignParleyOptions {
  /** Wire the whole store in (call records and analyses too), not only leads and campaigns. */
  shared?: boolean;
  /** Runs on the open store before the server (and its dialer) starts: what a previous run left. */
  before?: (store: Store) => Promise<void>;
  /** The Twilio REST fetch. */
  fetch?: typeof fetch;
  /** Use this DATA_DIR (another instance's, or a previous run's), left in place at the end. */
  dir?: string;
  /** This instance's name. @default "test-host" */
  instance?: string;
  /** The fake Twilio REST API to use (another instance's), left running at the end. */
  rest?: FakeTwilioRest;
  /** The clock to read (another instance's). */
  clock?: { now: number };
  /** The campaign and do-not-call ports as the dialer sees them (a test's faults around the store's). */
  ports?: (store: Store) => { campaigns: Campaigns; doNotCall: DoNotCallList };
}

/** Starts it; `await using` ends everything. */
export async function startCampaignParley(
  startAt: number,
  env: Record<string, string> = {},
  personasDir?: string,
  options: CampaignParleyOptions = {},
): Promise<CampaignParley> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "parley_campaigns_" });
  const store = openSqliteStore(callDatabasePath(dir), { instance: options.instance ?? "test-host" });
  await options.before?.(store);
  const rest = options.rest ?? startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  const clock = options.clock ?? { now: startAt };
  const t = await startTestParley({
    ...(personasDir === undefined ? {} : { personasDir }),
    ...(options.shared === true ? { shared: store } : { leads: store.leads }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    campaigns: {
      ...(options.ports?.(store) ?? { campaigns: store.campaigns, doNotCall: store.doNotCall }),
      instance: store.instance,
      tickMs: 0,
      now: () => clock.now,
    },
    env: {
      API_TOKEN,
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_PHONE_NUMBER: "+14155550199",
      TWILIO_API_BASE_URL: rest.baseUrl,
      ...env,
    },
  });
  return {
    t,
    rest,
    store,
    clock,
    dir,
    api: (method, path, body) =>
      fetch(`${t.origin}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${API_TOKEN}`,
          ...(typeof body === "string"
            ? { "content-type": "text/csv" }
            : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
      }),
    async status(callSid, params) {
      const response = await t.postTwilio(STATUS_CALLBACK_PATH, { CallSid: callSid, ...params });
      await response.body?.cancel();
      if (response.status !== 204) throw new Error(`status callback answered ${response.status}`);
    },
    async [Symbol.asyncDispose]() {
      await t.close();
      if (options.rest === undefined) await rest.shutdown();
      store.close();
      await store.closed;
      if (options.dir === undefined) await Deno.remove(dir, { recursive: true });
    },
  };
}
