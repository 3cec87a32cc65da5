/**
 * Two `main.ts` processes on one Postgres run one campaign (issue 21): 30 leads at `maxConcurrent` 5.
 * The test plays Twilio: it ends calls two at a time by posting their final status, one to each
 * instance, and counts at the fake Twilio REST API what is in flight (calls placed less calls completed).
 * Never more than 5 across both instances; each lead dialled once; both instances dialled.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { startCampaignProcesses, until } from "../../testing/campaign_processes.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";

const ignore = !postgresAvailable();
const INSTANCES = ["dialer-1", "dialer-2"];
const LEADS = 30;
const CAP = 5;

Deno.test({
  name:
    "Two instances on Postgres run one campaign: no lead dialled twice at once, and the cap holds across both",
  ignore,
  async fn() {
    const pg = await startThrowawayPostgres();
    try {
      await using rig = await startCampaignProcesses("cluster");
      const { placed, sidOf } = rig;
      const databaseUrl = await pg.createDatabase();
      const env = (instance: string) =>
        rig.env({ DATA_DIR: `${rig.dataDir}/${instance}`, DATABASE_URL: databaseUrl, INSTANCE_ID: instance });
      // Started together: the migrations take turns under their advisory lock.
      const started = await Promise.all(INSTANCES.map((instance) => rig.start(env(instance))));
      const ports = started.map((s) => s.port);

      await rig.importLeads(ports[0]!, Array.from({ length: LEADS }, (_, i) => `+1415555${3000 + i}`));
      // Read on the other instance: one database.
      const ids = (await (await rig.api(ports[1]!, "GET", "/api/leads")).json()).leads.map((
        l: { id: number },
      ) => l.id);
      assert.equal(ids.length, LEADS);
      const campaign = await rig.createCampaign(ports[0]!, ids, {
        name: "Two instances",
        maxConcurrent: CAP,
        callsPerSecond: 20,
      });

      // Twilio ends the calls two at a time, its status callbacks reaching both instances. Once the
      // freed slots are filled, each dialer finishes two more passes (a pass running then may have read
      // the state before; the next began after) before the count is read: time to overfill, if either would.
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
        const passes = await Promise.all(ports.map((port) => rig.dialerPasses(port)));
        await until(async () => {
          observe();
          const now = await Promise.all(ports.map((port) => rig.dialerPasses(port)));
          return now.every((n, i) => n >= passes[i]! + 2);
        }, `two more passes of each dialer (from ${passes.join(", ")})`);
        observe();
        // Two calls end at once, one on each instance: two slots free, both dialers race for them.
        const ending = Math.min(2, LEADS - completed);
        await Promise.all(
          Array.from({ length: ending }, (_, k) => rig.complete(ports[k % 2]!, sidOf(completed + k + 1))),
        );
        completed += ending;
      }
      assert.equal(maxInFlight, CAP, "the campaign used its whole cap");

      const final = await rig.finished(ports[1]!, campaign.id);
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
      for (const { process } of started) process.child.kill("SIGTERM");
      for (const { process } of started) await process.child.status;
    } finally {
      await pg.stop();
    }
  },
});
