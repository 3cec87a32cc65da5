/**
 * Two `main.ts` processes on one Postgres run one campaign (issue 21): 30 leads at `maxConcurrent` 5.
 * The test plays Twilio: it ends calls by posting their final status, to one instance or the other in
 * turn, and counts at the fake Twilio REST API what is in flight (calls placed less calls completed).
 * Never more than 5 across both instances; each lead dialled once; both instances dialled.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
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
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import { STATUS_CALLBACK_PATH } from "../../src/paths.ts";

const ignore = !postgresAvailable();
const AUTH_TOKEN = "campaign-cluster-token-0123456789";
const API_TOKEN = "campaign-cluster-api-0123456789";
const PUBLIC_BASE_URL = "https://parley.test";
const ACCOUNT_SID = `AC${"e".repeat(32)}`;
const INSTANCES = ["dialer-1", "dialer-2"];
const LEADS = 30;
const CAP = 5;

/** Resolves once `check` holds, looking every 20 ms; fails after `ms`. */
async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test({
  name:
    "Two instances on Postgres run one campaign: no lead dialled twice at once, and the cap holds across both",
  ignore,
  async fn() {
    const pg = await startThrowawayPostgres();
    const upstream = FakeRealtimeServer.start();
    const rest = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
    const dataDir = await Deno.makeTempDir({ prefix: "parley_campaign_cluster_" });
    const processes: ParleyProcess[] = [];
    try {
      const databaseUrl = await pg.createDatabase();
      const env = (instance: string) => ({
        PORT: "0",
        PUBLIC_BASE_URL,
        OPENAI_API_KEY: "sk-campaign-cluster-0123456789",
        OPENAI_REALTIME_URL: upstream.url,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        TWILIO_ACCOUNT_SID: ACCOUNT_SID,
        TWILIO_PHONE_NUMBER: "+14155550199",
        TWILIO_API_BASE_URL: rest.baseUrl,
        API_TOKEN,
        DATA_DIR: `${dataDir}/${instance}`,
        DATABASE_URL: databaseUrl,
        INSTANCE_ID: instance,
        PERSONAS_DIR: TEST_PERSONAS_DIR,
        DEFAULT_PERSONA: "tester",
        INBOUND_PERSONA: "quiet",
      });
      // Started together: the migrations take turns under their advisory lock.
      const started = await Promise.all(INSTANCES.map((instance) => spawnParley("start", env(instance))));
      processes.push(...started);
      const ports = await Promise.all(started.map(listeningPort));
      const api = (port: number, method: string, path: string, body?: string, type = "application/json") =>
        fetch(`http://127.0.0.1:${port}${path}`, {
          method,
          headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": type },
          ...(body === undefined ? {} : { body }),
        });
      const complete = async (port: number, callSid: string) => {
        const params = { CallSid: callSid, CallStatus: "completed" };
        const response = await fetch(`http://127.0.0.1:${port}${STATUS_CALLBACK_PATH}`, {
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
      const placed = () => rest.requests.filter((r) => r.method === "POST" && r.path.endsWith("/Calls.json"));
      // The fake numbers the calls it accepts CA…1, CA…2, … in order.
      const sidOf = (n: number) => `CA${n.toString(16).padStart(32, "0")}`;

      const csv = ["name,phone", ...Array.from({ length: LEADS }, (_, i) => `Lead ${i},+1415555${3000 + i}`)]
        .join("\n");
      const imported = await api(ports[0]!, "POST", "/api/leads/import", csv, "text/csv");
      assert.equal(imported.status, 201);
      await imported.body?.cancel();
      // Read on the other instance: one database.
      const ids = (await (await api(ports[1]!, "GET", "/api/leads")).json()).leads.map((l: { id: number }) =>
        l.id
      );
      assert.equal(ids.length, LEADS);
      const campaign = await (await api(
        ports[0]!,
        "POST",
        "/api/campaigns",
        JSON.stringify({
          name: "Two instances",
          persona: "alex",
          leads: { ids },
          window: {
            timezone: "UTC",
            days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            start: "00:00",
            end: "24:00",
          },
          maxConcurrent: CAP,
          callsPerSecond: 20,
          start: true,
        }),
      )).json();
      assert.equal(campaign.state, "running", JSON.stringify(campaign));

      // Twilio ends the calls one by one, its status callback reaching either instance in turn. After
      // each end, both dialers get time (more than a pass of each) to fill the freed slot or overfill.
      let completed = 0;
      let maxInFlight = 0;
      const observe = () => {
        const inFlight = placed().length - completed;
        maxInFlight = Math.max(maxInFlight, inFlight);
        assert.ok(inFlight <= CAP, `${inFlight} calls in flight across both instances (cap ${CAP})`);
      };
      while (completed < LEADS) {
        const want = Math.min(LEADS, completed + CAP);
        await until(() => {
          observe();
          return placed().length >= want;
        }, `${want} calls placed (${placed().length} so far, ${completed} completed)`);
        await new Promise((resolve) => setTimeout(resolve, 300));
        observe();
        await complete(ports[completed % 2]!, sidOf(completed + 1));
        completed++;
      }
      assert.equal(maxInFlight, CAP, "the campaign used its whole cap");

      const state = async () => (await (await api(ports[1]!, "GET", `/api/campaigns/${campaign.id}`)).json());
      let final = await state();
      const deadline = Date.now() + 20_000;
      while (final.state !== "finished" && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        final = await state();
      }
      assert.equal(final.state, "finished", JSON.stringify(final));
      assert.equal(final.counts.byDisposition.completed, LEADS, JSON.stringify(final.counts));
      assert.equal(final.counts.attempts, LEADS, "one attempt per lead");
      const phones = placed().map((r) => r.form.get("To"));
      assert.equal(phones.length, LEADS);
      assert.equal(new Set(phones).size, LEADS, "no lead was dialled twice");

      // Who placed each call: its first event (`call.placed`) names the instance.
      const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
      try {
        const rows = await sql<{ instance: string; n: string }[]>`
          SELECT instance, COUNT(*) AS n FROM call_events WHERE event->>'type' = 'call.placed'
          GROUP BY instance ORDER BY instance`;
        const byInstance = Object.fromEntries(rows.map((row) => [row.instance, Number(row.n)]));
        assert.equal(
          Object.values(byInstance).reduce((a, b) => a + b, 0),
          LEADS,
          JSON.stringify(byInstance),
        );
        for (const instance of INSTANCES) {
          assert.ok(
            (byInstance[instance] ?? 0) > 0,
            `${instance} dialled too: ${JSON.stringify(byInstance)}`,
          );
        }
      } finally {
        await sql.end();
      }
      for (const process of started) process.child.kill("SIGTERM");
      for (const process of started) await process.child.status;
    } finally {
      for (const process of processes) await reap(process);
      await rest.shutdown();
      await upstream.close();
      await pg.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
