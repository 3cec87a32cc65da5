/**
 * A campaign survives a SIGKILL: `main.ts` dials, dies mid-campaign with calls in flight, starts again
 * on the same DATA_DIR and INSTANCE_ID, settles those calls when Twilio's final status comes, and dials
 * the rest. Every lead ends with exactly one final disposition and was dialled once.
 */
import assert from "node:assert/strict";
import { startCampaignProcesses, until } from "../../testing/campaign_processes.ts";

const LEADS = 30;

Deno.test("campaign: SIGKILL mid-campaign, start again: every lead ends once, none dialled twice", async () => {
  await using rig = await startCampaignProcesses("restart");
  const { placed, sidOf } = rig;
  const first = await rig.start(rig.env());
  const ids = await rig.importLeads(
    first.port,
    Array.from({ length: LEADS }, (_, i) => `+1415555${2000 + i}`),
  );
  const campaign = await rig.createCampaign(first.port, ids, {
    name: "Restart",
    maxConcurrent: 5,
    callsPerSecond: 20,
  });

  // Three calls end; the dialer fills the slots; it dies with five in flight.
  await until(() => placed().length >= 5, "five calls");
  for (let n = 1; n <= 3; n++) await rig.complete(first.port, sidOf(n));
  await until(() => placed().length >= 8, "three more calls");
  first.process.child.kill("SIGKILL");
  await first.process.child.status;
  const placedBeforeKill = placed().length;
  assert.equal(placedBeforeKill, 8, "never more than five in flight");

  const second = await rig.start(rig.env());
  // Twilio's final statuses for the calls in flight reach the new process; then every new call ends.
  let done = 3;
  while (done < LEADS) {
    await until(() => placed().length > done, `call ${done + 1}`);
    await rig.complete(second.port, sidOf(++done));
  }
  const final = await rig.finished(second.port, campaign.id);
  assert.equal(final.state, "finished");
  assert.equal(final.counts.byDisposition.completed, LEADS, JSON.stringify(final.counts));
  assert.equal(final.counts.attempts, LEADS, "one attempt per lead");
  const phones = placed().map((r) => r.form.get("To"));
  assert.equal(phones.length, LEADS);
  assert.equal(new Set(phones).size, LEADS, "no lead was dialled twice");
  second.process.child.kill("SIGTERM");
  await second.process.child.status;
});
