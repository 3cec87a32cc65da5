/**
 * The narrow window: Twilio has taken the call but the process dies before it hears the CallSid. The
 * fake REST API accepts the call and holds its answer; the test SIGKILLs Parley then. The call is still
 * `queued` at Twilio (no start time, so only a `Status=queued` look-up finds it). The restart asks
 * Twilio, finds the call, does not dial the lead again, and the call's final status (posted to the
 * callback URL the call was placed with) finishes the attempt.
 */
import assert from "node:assert/strict";
import { startCampaignProcesses, until } from "../../testing/campaign_processes.ts";

Deno.test("campaign: SIGKILL after Twilio took the call, before its CallSid was noted: no second dial", async () => {
  await using rig = await startCampaignProcesses("window");
  const { placed, rest } = rig;
  const stall = rest.stallNextCall();
  try {
    const first = await rig.start(rig.env());
    const ids = await rig.importLeads(first.port, ["+14155552000"]);
    const campaign = await rig.createCampaign(first.port, ids, { name: "Window", maxConcurrent: 1 });

    // Twilio has the call (queued); its answer is held: the process dies without the CallSid.
    const call = await stall.accepted;
    first.process.child.kill("SIGKILL");
    await first.process.child.status;
    stall.release();
    assert.equal(call.status, "queued");

    const second = await rig.start(rig.env());
    const attempts = async () =>
      (await (await rig.api(second.port, "GET", `/api/campaigns/${campaign.id}/calls`)).json()).calls as {
        callSid: string | null;
        disposition: string | null;
      }[];
    // The restart asked Twilio (GET Calls.json?To=…, by start time and for queued calls) and noted the call.
    await until(async () => (await attempts()).some((a) => a.callSid === call.sid), "the CallSid noted");
    const asked = rest.requests.filter((r) => r.method === "GET" && r.path.endsWith("/Calls.json"));
    assert.ok(asked.every((r) => r.query.get("To") === "+14155552000"));
    assert.ok(asked.some((r) => r.query.get("StartTime>")?.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)));
    assert.ok(asked.some((r) => r.query.get("Status") === "queued"));

    // Twilio's final status, to the URL the call was placed with (signed with its query).
    const callbackUrl = placed()[0]!.form.get("StatusCallback")!;
    assert.match(callbackUrl, /\?campaign=\d+&lead=\d+&attempt=1$/);
    rest.setCallStatus(call.sid, "completed");
    await rig.complete(second.port, call.sid, callbackUrl);
    const final = await rig.finished(second.port, campaign.id);
    assert.equal(final.state, "finished");
    const rows = await attempts();
    assert.equal(rows.length, 1, JSON.stringify(rows));
    assert.equal(rows[0]?.disposition, "completed");
    assert.equal(placed().length, 1, "the lead was dialled once");
    second.process.child.kill("SIGTERM");
    await second.process.child.status;
  } finally {
    stall.release();
  }
});
