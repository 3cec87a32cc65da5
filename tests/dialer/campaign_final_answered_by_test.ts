/**
 * A campaign call's final status callback may also carry `AnsweredBy` (Twilio adds it to the status
 * callbacks of a call placed with answering-machine detection). The final status still ends the attempt
 * at once, with the disposition the machine answer and Parley's end reason give, and frees its slot: the
 * next lead is dialled on the next pass (not two hours later, by the stale sweep, as `failed`).
 */
import assert from "node:assert/strict";
import { type CampaignParley, startCampaignParley } from "./_campaign_parley.ts";
import type { EndReason } from "../../src/calls/call_events.ts";

const MONDAY_10_NY = Date.parse("2026-12-07T15:00:00Z");
const FIRST = "+14155551000";
const SECOND = "+14155551001";

/** What reaches Parley for the first lead's call, and how its attempt must end. */
interface Case {
  name: string;
  /** The answering-machine callback alone (Twilio's `asyncAmdStatusCallback`), before the call ends. */
  amdOnly?: string;
  /** How Parley's relay ended the call, if it ran it. */
  ended?: EndReason;
  /** `AnsweredBy` on the final `completed` callback. */
  finalAnsweredBy: string;
  disposition: string;
}

const CASES: Case[] = [
  {
    name: "the machine answer came before; the persona left a voicemail: voicemail_left",
    amdOnly: "machine_end_beep",
    ended: "voicemail_left",
    finalAnsweredBy: "machine_end_beep",
    disposition: "voicemail_left",
  },
  {
    name: "only the final callback names the machine; no message was left: no-answer",
    ended: "caller_hung_up",
    finalAnsweredBy: "machine_end_silence",
    disposition: "no-answer",
  },
  {
    name: "a person answered: completed",
    ended: "agent_hung_up",
    finalAnsweredBy: "human",
    disposition: "completed",
  },
];

/** Posts Twilio's signed callback to the status callback URL the dialer gave for the call (it names the attempt). */
async function callback(c: CampaignParley, callSid: string, params: Record<string, string>): Promise<void> {
  const request = c.rest.requests.find((r) => r.path.endsWith("/Calls.json") && r.form.get("To") === FIRST);
  const url = new URL(request!.form.get("StatusCallback")!);
  const response = await c.t.postTwilio(`${url.pathname}${url.search}`, { CallSid: callSid, ...params });
  await response.body?.cancel();
  assert.equal(response.status, 204);
}

for (const test of CASES) {
  Deno.test(`dialer: a final callback carrying AnsweredBy ends its attempt: ${test.name}`, async () => {
    await using c = await startCampaignParley(MONDAY_10_NY);
    const dialer = c.t.parley.dialer!;
    const campaign = await (await c.api("POST", "/api/campaigns", {
      name: "AMD",
      persona: "alex",
      leads: { csv: `name,phone\nAda,${FIRST}\nBabbage,${SECOND}\n` },
      window: { timezone: "UTC", days: ["mon"], start: "00:00", end: "24:00" },
      maxConcurrent: 1,
      callsPerSecond: 1,
      start: true,
    })).json();
    await dialer.tick();
    assert.deepEqual(c.rest.calls.map((call) => call.to), [FIRST]);
    const callSid = c.rest.calls[0]!.sid;

    if (test.amdOnly !== undefined) await callback(c, callSid, { AnsweredBy: test.amdOnly });
    if (test.ended !== undefined) {
      c.t.hub.emit({ type: "call.ended", at: c.clock.now, callSid, reason: test.ended, detail: "" });
    }
    await callback(c, callSid, {
      CallStatus: "completed",
      CallDuration: "25",
      AnsweredBy: test.finalAnsweredBy,
      SequenceNumber: "3",
    });
    await dialer.settled();

    const { calls } = await (await c.api("GET", `/api/campaigns/${campaign.id}/calls`)).json();
    const first = calls.find((row: { callSid: string | null }) => row.callSid === callSid);
    assert.equal(first?.disposition, test.disposition);
    assert.equal(first?.detail, `CallStatus=completed AnsweredBy=${test.finalAnsweredBy} CallDuration=25`);
    // The slot is free: the next lead is dialled on the next pass, a second later (callsPerSecond 1).
    c.clock.now += 1000;
    await dialer.tick();
    assert.deepEqual(c.rest.calls.map((call) => call.to), [FIRST, SECOND]);
    const read = await (await c.api("GET", `/api/campaigns/${campaign.id}`)).json();
    assert.equal(read.counts.byState.dialing, 1, "only the second lead's attempt is open");
  });
}
