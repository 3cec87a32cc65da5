/**
 * Two `main.ts` processes on one Postgres: a campaign call's final status reaches the instance that
 * did not place it, before the one that did has stored its attempt (Twilio's answer to the call
 * request is held meanwhile). The other instance looks the attempt up again, so the attempt ends with
 * that status and the campaign finishes. Before, the status stayed in the other instance's memory and
 * the attempt stayed open until the two-hour sweep ended it `failed`.
 */
import assert from "node:assert/strict";
import { startCampaignProcesses, until } from "../../testing/campaign_processes.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import { within } from "../../testing/within.ts";

Deno.test({
  name:
    "a final status that reaches another instance before the attempt is stored still ends the attempt there",
  ignore: !postgresAvailable(),
  async fn() {
    const pg = await startThrowawayPostgres();
    try {
      await using rig = await startCampaignProcesses("early");
      const databaseUrl = await pg.createDatabase();
      const env = (instance: string) =>
        rig.env({ DATA_DIR: `${rig.dataDir}/${instance}`, DATABASE_URL: databaseUrl, INSTANCE_ID: instance });
      const placing = await rig.start(env("dialer-1"));
      const ids = await rig.importLeads(placing.port, ["+14155553100"]);
      // Twilio takes the call, but its answer (with the CallSid) is held.
      const stall = rig.rest.stallNextCall();
      const campaign = await rig.createCampaign(placing.port, ids, {
        name: "Early",
        maxConcurrent: 1,
        retry: { busy: { after: 0, max: 0 } }, // busy is final: the campaign then finishes
      });
      const call = await within(stall.accepted, "the call request", 20_000);
      const request = await within(
        rig.rest.waitForRequest((r) => r.method === "POST" && r.path.endsWith("/Calls.json")),
        "the call request's form",
      );
      // The other instance, started now, hears Twilio's final status first.
      const other = await rig.start(env("dialer-2"));
      await rig.complete(other.port, call.sid, request.form.get("StatusCallback")!, "busy");
      stall.release();

      await until(
        async () => (await rig.campaign(other.port, campaign.id)).state === "finished",
        "the campaign finished",
        15_000,
      );
      const final = await rig.campaign(placing.port, campaign.id);
      assert.equal(final.counts.attempts, 1);
      assert.equal(final.counts.byDisposition.busy, 1, JSON.stringify(final.counts));
      assert.equal(rig.placed().length, 1, "dialled once");
    } finally {
      await pg.stop();
    }
  },
});
