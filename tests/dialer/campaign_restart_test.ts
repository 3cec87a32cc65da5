/**
 * A campaign survives a SIGKILL: `main.ts` dials, dies mid-campaign with calls in flight, starts again
 * on the same DATA_DIR and INSTANCE_ID, settles those calls when Twilio's final status comes, and dials
 * the rest. Every lead ends with exactly one final disposition and was dialled once.
 *
 * And a kill during a retry wait: a lead's first call ends `no-answer` under a retry policy, the
 * process dies before the retry is due and starts again; the retry's request goes out once, not before
 * the time stored for it, after the first attempt ended.
 */
import assert from "node:assert/strict";
import { startCampaignProcesses, until } from "../../testing/campaign_processes.ts";
import type { RecordedRequest } from "../../testing/fake_twilio_rest.ts";
import { within } from "../../testing/within.ts";

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

/** A campaign attempt as `GET /api/campaigns/:id/calls` lists it (the fields read here). */
interface AttemptRow {
  phone: string;
  attempt: number;
  callSid: string | null;
  startedAt: number;
  endedAt: number | null;
  disposition: string | null;
}

Deno.test("campaign: SIGKILL during a no-answer's retry wait, start again: the retry happens once, at its time, never overlapping", async () => {
  await using rig = await startCampaignProcesses("retry");
  const { placed, rest } = rig;
  const PHONE = "+14155553000";
  const RETRY_AFTER_MS = 9_000; // long enough for a kill and a restart, under load, inside it
  const callPost = (attempt: number) => (r: RecordedRequest) =>
    r.method === "POST" && r.path.endsWith("/Calls.json") &&
    (r.form.get("StatusCallback") ?? "").endsWith(`&attempt=${attempt}`);

  const first = await rig.start(rig.env());
  const ids = await rig.importLeads(first.port, [PHONE]);
  const campaign = await rig.createCampaign(first.port, ids, {
    name: "Retry",
    maxConcurrent: 1,
    retry: { "no-answer": { after: RETRY_AFTER_MS / 60_000, max: 1 } },
  });
  const attempts = async (port: number) =>
    (await (await rig.api(port, "GET", `/api/campaigns/${campaign.id}/calls`)).json()).calls as AttemptRow[];

  // The first attempt: nobody answers.
  const firstRequest = await within(rest.waitForRequest(callPost(1)), "the first call request", 20_000);
  rest.setCallStatus(rig.sidOf(1), "no-answer");
  await rig.complete(first.port, rig.sidOf(1), firstRequest.form.get("StatusCallback")!, "no-answer");
  // Settled in the store: the attempt ended no-answer, the lead due again after the policy's wait.
  let retryAt: number | null = null;
  await until(
    async () => (retryAt = (await rig.campaign(first.port, campaign.id)).nextTryAt) !== null,
    "the retry planned",
  );
  const [ended] = await attempts(first.port);
  assert.equal(ended?.disposition, "no-answer");
  assert.equal(retryAt, ended!.endedAt! + RETRY_AFTER_MS, "due the policy's wait after the attempt ended");

  // Killed during the wait, and started again on the same DATA_DIR and INSTANCE_ID, still inside it.
  first.process.child.kill("SIGKILL");
  await first.process.child.status;
  const second = await rig.start(rig.env());
  const restartedAt = Date.now();
  assert.ok(
    restartedAt < retryAt!,
    `restarted ${restartedAt - retryAt!} ms after the retry was due: not during the wait`,
  );
  assert.equal(placed().length, 1, "nothing dialled during the wait");

  // The retry: once, not before its time (nor long after: the dialer looks every 250 ms).
  const retry = await within(
    rest.waitForRequest(callPost(2)),
    "the retry's call request",
    RETRY_AFTER_MS + 20_000,
  );
  assert.ok(retry.at >= retryAt!, `the retry went out ${retryAt! - retry.at} ms early`);
  assert.ok(retry.at - retryAt! < 5_000, `the retry went out ${retry.at - retryAt!} ms late`);
  assert.equal(retry.form.get("To"), PHONE);
  assert.equal(placed().length, 2, "one retry");

  rest.setCallStatus(rig.sidOf(2), "completed");
  await rig.complete(second.port, rig.sidOf(2), retry.form.get("StatusCallback")!);
  const final = await rig.finished(second.port, campaign.id);
  assert.equal(final.state, "finished");
  assert.equal(final.counts.attempts, 2, JSON.stringify(final.counts));
  assert.equal(final.counts.byDisposition.completed, 1);
  assert.equal(final.counts.byDisposition["no-answer"], 0, "the lead's final disposition is the retry's");
  const rows = (await attempts(second.port)).sort((a, b) => a.attempt - b.attempt);
  assert.deepEqual(
    rows.map((r) => [r.attempt, r.callSid, r.disposition]),
    [[1, rig.sidOf(1), "no-answer"], [2, rig.sidOf(2), "completed"]],
  );
  assert.ok(rows[1]!.startedAt >= rows[0]!.endedAt!, "the retry began after the first attempt ended");
  assert.ok(rows[1]!.startedAt - rows[0]!.endedAt! >= RETRY_AFTER_MS, "and waited the policy's time");
  assert.equal(placed().length, 2, "the lead was dialled twice in all");
  second.process.child.kill("SIGTERM");
  await second.process.child.status;
});
