/**
 * An instance dies with campaign leads claimed (issue 21, Postgres): the live peer that finds it dead
 * puts back the leads it claimed but never dialled (no attempt counted; one whose request went out
 * keeps it noted, so Twilio is asked before it is dialled again) and takes over those with a call in
 * progress (its stale sweep now covers them; their final status settles them on any instance).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres/store.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import { DEFAULT_RETRY } from "../../src/dialer/outcomes.ts";

const ignore = !postgresAvailable();

Deno.test({
  name: "a peer puts back the campaign leads a dead instance claimed and never dialled",
  ignore,
  async fn() {
    const server = await startThrowawayPostgres();
    const url = await server.createDatabase();
    const stores: PostgresStore[] = [];
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    const reports: string[] = [];
    try {
      const open = async (instance: string) => {
        const store = await openPostgresStore(url, {
          instance,
          maxConnections: 3,
          instanceTimeoutMs: 60_000,
          onError: (message) => reports.push(message),
        });
        stores.push(store);
        return store;
      };
      const crashed = await open("crashed");
      const beta = await open("beta");
      const campaign = await crashed.campaigns.create(
        {
          name: "Crash",
          persona: "alex",
          voice: undefined,
          parameters: {},
          window: { timezone: "UTC", days: ["mon"], start: "00:00", end: "24:00" },
          maxConcurrent: 3,
          callsPerSecond: 3,
          retry: { ...DEFAULT_RETRY },
          machineDetection: true,
        },
        ["+14155556000", "+14155556001", "+14155556002"].map((phone, i) => ({
          leadId: null,
          name: `Lead ${i}`,
          phone,
          timezone: null,
          fields: {},
        })),
        "running",
      );
      const [never, requested, calling] = await crashed.campaigns.claim(campaign.id, 1_000, 3, "crashed");
      assert.ok(await crashed.campaigns.beginDial(requested!.id, 1_000));
      assert.ok(await crashed.campaigns.beginDial(calling!.id, 1_000));
      await crashed.campaigns.startAttempt(calling!.id, 1_000, "CA00000000000000000000000000000c03");

      // It dies: no more beats (its last one long past), no clean stop.
      await crashed.heartbeat.close(false);
      await sql`UPDATE instances SET beat_at = 0 WHERE instance = 'crashed'`;
      assert.equal((await beta.heartbeat.sweep()).length, 1);

      const leads = new Map((await beta.campaigns.leads(campaign.id)).map((lead) => [lead.id, lead]));
      const row = (id: number) => {
        const lead = leads.get(id)!;
        return [lead.state, lead.claimedBy, lead.attempts, lead.requestedAt];
      };
      assert.deepEqual(row(never!.id), ["pending", null, 0, null]);
      assert.deepEqual(row(requested!.id), ["pending", null, 0, 1_000]);
      assert.deepEqual(row(calling!.id), ["dialing", "beta", 1, null]);
      assert.ok(reports.some((line) => line.includes("put back 2 campaign lead(s)")), reports.join("\n"));
      // beta claims the leads put back; the cap counts the call still in progress.
      assert.equal((await beta.campaigns.claim(campaign.id, 2_000, 3, "beta")).length, 2);
    } finally {
      for (const store of stores) store.close();
      for (const store of stores) await store.closed;
      await sql.end();
      await server.stop();
    }
  },
});
