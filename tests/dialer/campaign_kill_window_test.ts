/**
 * The narrow window: Twilio has taken the call but the process dies before it hears the CallSid. The
 * fake REST API accepts the call and holds its answer; the test SIGKILLs Parley then. The restart
 * asks Twilio, finds the call, does not dial the lead again, and the call's final status (posted to
 * the callback URL the call was placed with) finishes the attempt.
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

const AUTH_TOKEN = "campaign-window-token-0123456789";
const API_TOKEN = "campaign-window-api-0123456789";
const PUBLIC_BASE_URL = "https://parley.test";
const ACCOUNT_SID = `AC${"f".repeat(32)}`;

async function until(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!await check()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

Deno.test("campaign: SIGKILL after Twilio took the call, before its CallSid was noted: no second dial", async () => {
  const upstream = FakeRealtimeServer.start();
  const rest = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
  const dataDir = await Deno.makeTempDir({ prefix: "parley_campaign_window_" });
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
  const processes: ParleyProcess[] = [];
  const stall = rest.stallNextCall();
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
    await (await api(port, "POST", "/api/leads/import", "name,phone\nSolo,+14155552000", "text/csv")).body
      ?.cancel();
    const ids = (await (await api(port, "GET", "/api/leads")).json()).leads.map((l: { id: number }) => l.id);
    const campaign = await (await api(
      port,
      "POST",
      "/api/campaigns",
      JSON.stringify({
        name: "Window",
        persona: "alex",
        leads: { ids },
        window: {
          timezone: "UTC",
          days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
          start: "00:00",
          end: "24:00",
        },
        maxConcurrent: 1,
        start: true,
      }),
    )).json();
    assert.equal(campaign.state, "running", JSON.stringify(campaign));

    // Twilio has the call; its answer is held: the process dies without the CallSid.
    const call = await stall.accepted;
    first.child.kill("SIGKILL");
    await first.child.status;
    stall.release();
    rest.setCallStatus(call.sid, "ringing");

    const second = await spawnParley("start", env);
    processes.push(second);
    const port2 = await listeningPort(second);
    const attempts = async () =>
      (await (await api(port2, "GET", `/api/campaigns/${campaign.id}/calls`)).json()).calls as {
        callSid: string | null;
        disposition: string | null;
      }[];
    // The restart asked Twilio (GET Calls.json?To=…&StartTime>=…) and noted the call.
    await until(async () => (await attempts()).some((a) => a.callSid === call.sid), "the CallSid noted");
    const asked = rest.requests.find((r) => r.method === "GET" && r.path.endsWith("/Calls.json"));
    assert.equal(asked?.query.get("To"), "+14155552000");
    assert.ok(asked?.query.get("StartTime>")?.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/));

    // Twilio's final status, to the URL the call was placed with (signed with its query).
    const callbackUrl = placed()[0]!.form.get("StatusCallback")!;
    assert.match(callbackUrl, /\?campaign=\d+&lead=\d+&attempt=1$/);
    rest.setCallStatus(call.sid, "completed");
    const params = { CallSid: call.sid, CallStatus: "completed" };
    const response = await fetch(`http://127.0.0.1:${port2}${callbackUrl.slice(PUBLIC_BASE_URL.length)}`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": getExpectedTwilioSignature(AUTH_TOKEN, callbackUrl, params),
      },
      body: new URLSearchParams(params),
    });
    assert.equal(response.status, 204);
    await response.body?.cancel();
    await until(
      async () =>
        (await (await api(port2, "GET", `/api/campaigns/${campaign.id}`)).json()).state === "finished",
      "the campaign finished",
    );
    const rows = await attempts();
    assert.equal(rows.length, 1, JSON.stringify(rows));
    assert.equal(rows[0]?.disposition, "completed");
    assert.equal(placed().length, 1, "the lead was dialled once");
    second.child.kill("SIGTERM");
    await second.child.status;
  } finally {
    stall.release();
    for (const process of processes) await reap(process);
    await rest.shutdown();
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
