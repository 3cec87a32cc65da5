/**
 * The setup the campaign tests that run `main.ts` as subprocesses share (a restart, the kill window,
 * two instances on Postgres): the fake Realtime upstream, the fake Twilio REST API, a DATA_DIR, the
 * env, and what the tests do to Parley over HTTP: import leads, create a campaign open all week, post
 * Twilio's signed final statuses, read the campaign. `await using` reaps every process it started and
 * closes the rest.
 *
 * @module
 */

import "./temp_root.ts";
import assert from "node:assert/strict";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { FakeRealtimeServer } from "./fake_realtime.ts";
import { type FakeTwilioRest, type RecordedRequest, startFakeTwilioRest } from "./fake_twilio_rest.ts";
import { listeningPort, type ParleyProcess, reap, spawnParley, TEST_PERSONAS_DIR } from "./parley_process.ts";
import { STATUS_CALLBACK_PATH } from "../src/paths.ts";

/** Where Parley believes it is reached (status callback URLs and their signatures name it). */
export const CAMPAIGN_PUBLIC_BASE_URL = "https://parley.test";

/** A campaign as the API shows it (the fields the tests read). */
export interface CampaignView {
  id: number;
  state: string;
  counts: { byDisposition: Record<string, number>; attempts: number };
  /** When the earliest waiting lead is due, epoch ms, or null. */
  nextTryAt: number | null;
}

/** One running `main.ts`. */
export interface CampaignProcess {
  process: ParleyProcess;
  port: number;
}

/** The shared pieces; see the module doc. */
export interface CampaignProcesses extends AsyncDisposable {
  rest: FakeTwilioRest;
  dataDir: string;
  authToken: string;
  /** The env every process gets, with `overrides` (DATABASE_URL, INSTANCE_ID, DATA_DIR…). */
  env(overrides?: Record<string, string>): Record<string, string>;
  /** Spawns `deno task start` with `env` and waits until it listens. */
  start(env: Record<string, string>): Promise<CampaignProcess>;
  /** An API request with the bearer token. */
  api(port: number, method: string, path: string, body?: string, type?: string): Promise<Response>;
  /** Imports leads with these phones (`Lead 0`, `Lead 1`…) and returns every lead id. */
  importLeads(port: number, phones: readonly string[]): Promise<number[]>;
  /** Creates a running campaign on `ids`, its window open all week. */
  createCampaign(
    port: number,
    ids: readonly number[],
    settings: {
      name: string;
      maxConcurrent: number;
      callsPerSecond?: number;
      /** By outcome: `after` minutes, `max` more attempts. */
      retry?: Record<string, { after: number; max: number }>;
    },
  ): Promise<CampaignView>;
  /**
   * Posts Twilio's signed final status of `callSid` (to `callbackUrl`, the one it was placed with, if
   * given): `completed` unless `status` says otherwise (e.g. `no-answer`).
   */
  complete(port: number, callSid: string, callbackUrl?: string, status?: string): Promise<void>;
  /** The call requests Twilio received (`POST Calls.json`), in order. */
  placed(): RecordedRequest[];
  /** The CallSid the fake gives its `n`th call (1-based). */
  sidOf(n: number): string;
  /** The campaign as `GET /api/campaigns/:id` shows it. */
  campaign(port: number, id: number): Promise<CampaignView>;
  /** Waits (20 s at most) until the campaign is `finished`, and returns it as it is then. */
  finished(port: number, id: number): Promise<CampaignView>;
  /** The passes this instance's dialer finished: `parley_dialer_passes_total` on its `/metrics`. */
  dialerPasses(port: number): Promise<number>;
}

/**
 * Resolves once `check` holds, looking every 20 ms (for what only Parley's API shows; a request to the
 * fake REST API is awaited with its `waitForRequest`); fails after `ms`.
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 20_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!await check()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Starts the upstream and the fake Twilio REST API; `name` tells the tokens and the DATA_DIR apart. */
export async function startCampaignProcesses(name: string): Promise<CampaignProcesses> {
  const authToken = `campaign-${name}-token-0123456789`;
  const apiToken = `campaign-${name}-api-0123456789`;
  const accountSid = `AC${[...name].reduce((n, c) => n + c.charCodeAt(0), 0).toString(16).padStart(32, "0")}`;
  const upstream = FakeRealtimeServer.start();
  const rest = startFakeTwilioRest({ accountSid, authToken });
  const dataDir = await Deno.makeTempDir({ prefix: `parley_campaign_${name}_` });
  const processes: ParleyProcess[] = [];

  const api = (port: number, method: string, path: string, body?: string, type = "application/json") =>
    fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: `Bearer ${apiToken}`, "content-type": type },
      ...(body === undefined ? {} : { body }),
    });
  const campaign = async (port: number, id: number) =>
    await (await api(port, "GET", `/api/campaigns/${id}`)).json() as CampaignView;

  return {
    rest,
    dataDir,
    authToken,
    env: (overrides = {}) => ({
      PORT: "0",
      PUBLIC_BASE_URL: CAMPAIGN_PUBLIC_BASE_URL,
      OPENAI_API_KEY: "sk-campaign-key-0123456789",
      OPENAI_REALTIME_URL: upstream.url,
      TWILIO_AUTH_TOKEN: authToken,
      TWILIO_ACCOUNT_SID: accountSid,
      TWILIO_PHONE_NUMBER: "+14155550199",
      TWILIO_API_BASE_URL: rest.baseUrl,
      API_TOKEN: apiToken,
      DATA_DIR: dataDir,
      INSTANCE_ID: "campaign-host",
      PERSONAS_DIR: TEST_PERSONAS_DIR,
      DEFAULT_PERSONA: "tester",
      INBOUND_PERSONA: "quiet",
      ...overrides,
    }),
    async start(env) {
      const process = await spawnParley("start", env);
      processes.push(process);
      return { process, port: await listeningPort(process) };
    },
    api,
    async importLeads(port, phones) {
      const csv = ["name,phone", ...phones.map((phone, i) => `Lead ${i},${phone}`)].join("\n");
      const imported = await api(port, "POST", "/api/leads/import", csv, "text/csv");
      assert.equal(imported.status, 201);
      await imported.body?.cancel();
      return (await (await api(port, "GET", "/api/leads")).json()).leads.map((l: { id: number }) => l.id);
    },
    async createCampaign(port, ids, settings) {
      const created = await (await api(
        port,
        "POST",
        "/api/campaigns",
        JSON.stringify({
          ...settings,
          persona: "alex",
          leads: { ids },
          window: {
            timezone: "UTC",
            days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            start: "00:00",
            end: "24:00",
          },
          start: true,
        }),
      )).json();
      assert.equal(created.state, "running", JSON.stringify(created));
      return created;
    },
    async complete(
      port,
      callSid,
      callbackUrl = `${CAMPAIGN_PUBLIC_BASE_URL}${STATUS_CALLBACK_PATH}`,
      status = "completed",
    ) {
      const params = { CallSid: callSid, CallStatus: status };
      const path = callbackUrl.slice(CAMPAIGN_PUBLIC_BASE_URL.length);
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "X-Twilio-Signature": getExpectedTwilioSignature(authToken, callbackUrl, params),
        },
        body: new URLSearchParams(params),
      });
      assert.equal(response.status, 204);
      await response.body?.cancel();
    },
    placed: () => rest.requests.filter((r) => r.method === "POST" && r.path.endsWith("/Calls.json")),
    // The fake numbers the calls it accepts CA…1, CA…2, … in order.
    sidOf: (n) => `CA${n.toString(16).padStart(32, "0")}`,
    campaign,
    async finished(port, id) {
      let view = await campaign(port, id);
      // The dialer notices the last final status on its next pass: seconds at most, even on a loaded machine.
      await until(async () => (view = await campaign(port, id)).state === "finished", "the campaign finished")
        .catch(() => {});
      return view;
    },
    async dialerPasses(port) {
      const response = await api(port, "GET", "/metrics");
      const text = await response.text();
      assert.equal(response.status, 200, text);
      const sample = /^parley_dialer_passes_total (\d+)$/m.exec(text);
      if (sample === null) throw new Error(`no parley_dialer_passes_total on :${port}/metrics`);
      return Number(sample[1]);
    },
    async [Symbol.asyncDispose]() {
      for (const process of processes) await reap(process);
      await rest.shutdown();
      await upstream.close();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}
