/**
 * A campaign survives a SIGKILL: `main.ts` dials, dies mid-campaign with calls in flight, starts again
 * on the same DATA_DIR and INSTANCE_ID, settles those calls when Twilio's final status comes, and dials
 * the rest. Every lead ends with exactly one final disposition and was dialled once.
 */
import assert from "node:assert/strict";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import {
  listeningPort,
  type ParleyProcess,
  reap,
  spawnParley,
  TEST_PERSONAS_DIR,
} from "../../testing/parley_process.ts";
import { startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import { STATUS_CALLBACK_PATH } from "../../src/paths.ts";

const AUTH_TOKEN = "campaign-restart-token-0123456789";
const API_TOKEN = "campaign-restart-api-0123456789";
const PUBLIC_BASE_URL = "https://parley.test";
const ACCOUNT_SID = `AC${"d".repeat(32)}`;
const LEADS = 30;

/** Resolves once `check` holds, looking every 20 ms (the fake REST API has no event to await); fails after `ms`. */
async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("campaign: SIGKILL mid-campaign, start again: every lead ends once, none dialled twice", async () => {
  const upstream = FakeRealtimeServer.start();
  const rest = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
  const dataDir = await Deno.makeTempDir({ prefix: "parley_campaign_restart_" });
  const env = {
    PORT: "0",
    PUBLIC_BASE_URL,
    OPENAI_API_KEY: "sk-campaign-key-0123456789",
    OPENAI_REALTIME_URL: upstream.url,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_PHONE_NUMBER: "+14155550199",
    TWILIO_API_BASE_URL: rest.baseUrl,
    API_TOKEN,
    DATA_DIR: dataDir,
    INSTANCE_ID: "campaign-host",
    PERSONAS_DIR: TEST_PERSONAS_DIR,
    DEFAULT_PERSONA: "tester",
    INBOUND_PERSONA: "quiet",
  };
  const placed = () => rest.requests.filter((r) => r.method === "POST" && r.path.endsWith("/Calls.json"));
  // The fake numbers the calls it accepts CA…1, CA…2, … in order.
  const sidOf = (n: number) => `CA${n.toString(16).padStart(32, "0")}`;
  const processes: ParleyProcess[] = [];
  try {
    const first = await spawnParley("start", env);
    processes.push(first);
    const port = await listeningPort(first);
    const api = (p: number, method: string, path: string, body?: string, type = "application/json") =>
      fetch(`http://127.0.0.1:${p}${path}`, {
        method,
        headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": type },
        ...(body === undefined ? {} : { body }),
      });
    const complete = async (p: number, callSid: string) => {
      const params = { CallSid: callSid, CallStatus: "completed" };
      const response = await fetch(`http://127.0.0.1:${p}${STATUS_CALLBACK_PATH}`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "X-Twilio-Signature": getExpectedTwilioSignature(
            AUTH_TOKEN,
            `${PUBLIC_BASE_URL}${STATUS_CALLBACK_PATH}`,
            params,
          ),
        },
        body: new URLSearchParams(params),
      });
      assert.equal(response.status, 204);
      await response.body?.cancel();
    };
    const csv = ["name,phone", ...Array.from({ length: LEADS }, (_, i) => `Lead ${i},+1415555${2000 + i}`)]
      .join("\n");
    await (await api(port, "POST", "/api/leads/import", csv, "text/csv")).body?.cancel();
    const ids = (await (await api(port, "GET", "/api/leads")).json()).leads.map((l: { id: number }) => l.id);
    const campaign = await (await api(
      port,
      "POST",
      "/api/campaigns",
      JSON.stringify({
        name: "Restart",
        persona: "alex",
        leads: { ids },
        window: {
          timezone: "UTC",
          days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
          start: "00:00",
          end: "24:00",
        },
        maxConcurrent: 5,
        callsPerSecond: 20,
        start: true,
      }),
    )).json();
    assert.equal(campaign.state, "running", JSON.stringify(campaign));

    // Three calls end; the dialer fills the slots; it dies with five in flight.
    await until(() => placed().length >= 5, "five calls");
    for (let n = 1; n <= 3; n++) await complete(port, sidOf(n));
    await until(() => placed().length >= 8, "three more calls");
    first.child.kill("SIGKILL");
    await first.child.status;
    const placedBeforeKill = placed().length;
    assert.equal(placedBeforeKill, 8, "never more than five in flight");

    const second = await spawnParley("start", env);
    processes.push(second);
    const port2 = await listeningPort(second);
    // Twilio's final statuses for the calls in flight reach the new process; then every new call ends.
    let done = 3;
    while (done < LEADS) {
      await until(() => placed().length > done, `call ${done + 1}`);
      await complete(port2, sidOf(++done));
    }
    const state = async () => (await (await api(port2, "GET", `/api/campaigns/${campaign.id}`)).json());
    let final = await state();
    // The dialer notices the last final status on its next pass: seconds at most, even on a loaded machine.
    const deadline = Date.now() + 20_000;
    while (final.state !== "finished" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      final = await state();
    }
    assert.equal(final.state, "finished");
    assert.equal(final.counts.byDisposition.completed, LEADS, JSON.stringify(final.counts));
    assert.equal(final.counts.attempts, LEADS, "one attempt per lead");
    const phones = placed().map((r) => r.form.get("To"));
    assert.equal(phones.length, LEADS);
    assert.equal(new Set(phones).size, LEADS, "no lead was dialled twice");
    second.child.kill("SIGTERM");
    await second.child.status;
  } finally {
    for (const process of processes) await reap(process);
    await rest.shutdown();
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
