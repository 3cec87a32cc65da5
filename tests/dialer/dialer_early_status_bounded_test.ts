/**
 * The dialer hears every call's final status (inbound calls, calls placed through the API, calls it
 * cannot match to an attempt). One that finds no attempt is kept only while it may still be a campaign
 * call's whose attempt is being stored, and only the most recent of those: however many such calls went
 * by, a campaign call whose final status comes before its attempt is stored is still settled. Before,
 * the first 1,000 such statuses were kept for good and every later one was dropped: the attempt waited
 * two hours for the stale sweep and was ended `failed`.
 *
 * What the dialer remembers of how calls ended (`CallEnds`) is bounded the same way; that is not
 * visible through the server, so the second test reads the class itself.
 */

import assert from "node:assert/strict";
import { MAX_EARLY_STATUSES } from "../../src/dialer/attempt_ends.ts";
import type { CampaignAttempt, CampaignInput } from "../../src/store/campaign.ts";
import type { Campaigns, DoNotCallList } from "../../src/store/ports.ts";
import { DEFAULT_RETRY } from "../../src/dialer/outcomes.ts";
import { CallEnds } from "../../src/dialer/call_ends.ts";
import { createLogger } from "../../src/log.ts";
import { within } from "../../testing/within.ts";
import { STATUS_CALLBACK_PATH } from "../../src/paths.ts";
import { startCampaignParley } from "./_campaign_parley.ts";

const MONDAY_10_NY = Date.parse("2026-12-07T15:00:00Z");
const CAMPAIGN: CampaignInput = {
  name: "Early status",
  persona: "alex",
  voice: undefined,
  parameters: {},
  window: { timezone: "UTC", days: ["mon"], start: "00:00", end: "24:00" },
  maxConcurrent: 1,
  callsPerSecond: 1,
  retry: { ...DEFAULT_RETRY },
  machineDetection: false,
};
/** Calls of each kind below: together, more than the dialer keeps early final statuses of. */
const OTHER_CALLS = 550;

const sidOf = (prefix: string, i: number) => `CA${prefix}${i.toString(16).padStart(32 - prefix.length, "0")}`;

Deno.test("dialer: after many calls that are no campaign attempt, a campaign call's final status that beats its attempt still settles it", async () => {
  // The attempt of a call Twilio placed is stored only once the test lets it (its final status first).
  let holding: string | undefined;
  const held = Promise.withResolvers<string>();
  const letStore = Promise.withResolvers<void>();
  const holdingFirstAttempt = (campaigns: Campaigns) =>
    new Proxy(campaigns, {
      get: (target, name) => {
        const value = Reflect.get(target, name);
        if (typeof value !== "function") return value;
        if (name !== "startAttempt") return value.bind(target);
        return async (leadId: number, at: number, callSid?: string): Promise<CampaignAttempt> => {
          if (callSid !== undefined && holding === undefined) {
            holding = callSid;
            held.resolve(callSid);
            await letStore.promise;
          }
          return await target.startAttempt(leadId, at, callSid);
        };
      },
    });
  await using c = await startCampaignParley(MONDAY_10_NY, {}, undefined, {
    ports: (store) => ({ campaigns: holdingFirstAttempt(store.campaigns), doNotCall: store.doNotCall }),
  });
  const { t, rest, store } = c;
  const postStatus = async (pathAndQuery: string, callSid: string, status: string) => {
    const response = await t.postTwilio(pathAndQuery, { CallSid: callSid, CallStatus: status });
    await response.body?.cancel();
    assert.equal(response.status, 204);
  };
  try {
    assert.ok(2 * OTHER_CALLS > MAX_EARLY_STATUSES, "more statuses than the dialer keeps");
    const dialer = t.parley.dialer!;
    // Calls that are no campaign attempt end: inbound and API calls (no attempt named), and calls whose
    // callback names an attempt no store has (another deployment's, say).
    for (let i = 0; i < OTHER_CALLS; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) => [
          postStatus(STATUS_CALLBACK_PATH, sidOf("a", i + j), "completed"),
          postStatus(
            `${STATUS_CALLBACK_PATH}?campaign=999&lead=${i + j + 1}&attempt=1`,
            sidOf("b", i + j),
            "busy",
          ),
        ]).flat(),
      );
    }
    await dialer.settled();

    const campaign = await store.campaigns.create(
      CAMPAIGN,
      [{ leadId: null, name: "Solo", phone: "+14155557000", timezone: null, fields: {} }],
      "running",
    );
    const pass = dialer.tick();
    // Twilio placed the call; its final status comes before the attempt is stored.
    const callSid = await within(held.promise, "the attempt of the call Twilio placed");
    const placed = rest.requests.find((r) => r.method === "POST" && r.path.endsWith("/Calls.json"))!;
    const callback = new URL(placed.form.get("StatusCallback")!);
    assert.equal(callback.pathname, STATUS_CALLBACK_PATH);
    await postStatus(`${callback.pathname}${callback.search}`, callSid, "completed");
    await dialer.settled();
    assert.deepEqual(await store.campaigns.attempts(campaign.id), [], "not stored yet");

    letStore.resolve();
    await pass;
    await dialer.settled();
    const [attempt] = await store.campaigns.attempts(campaign.id);
    assert.equal(attempt?.callSid, callSid);
    assert.equal(attempt?.disposition, "completed", "its final status ended the attempt");
    assert.notEqual(attempt?.endedAt, null);
    const [lead] = await store.campaigns.leads(campaign.id);
    assert.deepEqual([lead?.state, lead?.disposition], ["done", "completed"]);
    await dialer.tick();
    assert.equal((await store.campaigns.get(campaign.id))?.state, "finished");
  } finally {
    letStore.resolve();
  }
});

Deno.test("CallEnds keeps what it heard of at most 10,000 calls, the most recent", async () => {
  const ends = new CallEnds({
    campaigns: {} as Campaigns,
    doNotCall: {} as DoNotCallList,
    log: createLogger({ sink: () => {} }),
    now: () => MONDAY_10_NY,
  });
  const hearEnd = (callSid: string) => {
    ends.hear({ type: "call.status", at: 0, callSid, status: "machine-detected", detail: "" });
    ends.hear({ type: "call.ended", at: 0, callSid, reason: "agent_hung_up", detail: "" });
  };
  // Calls that ended here and were no campaign attempt of this instance: nothing asks for them.
  for (let i = 0; i <= 10_000; i++) hearEnd(sidOf("c", i));
  const outcome = (callSid: string) => ends.outcome(callSid, "completed", "CallStatus=completed");
  assert.deepEqual(
    await outcome(sidOf("c", 0)),
    { status: "completed", detail: "CallStatus=completed", endReason: undefined, machine: false },
    "the oldest is forgotten",
  );
  assert.deepEqual(
    await outcome(sidOf("c", 10_000)),
    { status: "completed", detail: "CallStatus=completed", endReason: "agent_hung_up", machine: true },
    "the newest is kept",
  );
  assert.deepEqual(
    await outcome(sidOf("c", 1)),
    { status: "completed", detail: "CallStatus=completed", endReason: "agent_hung_up", machine: true },
  );

  // A call heard of, then forgotten (its final status found no campaign attempt), leaves nothing.
  hearEnd(sidOf("d", 0));
  ends.forget(sidOf("d", 0));
  assert.deepEqual(
    await outcome(sidOf("d", 0)),
    { status: "completed", detail: "CallStatus=completed", endReason: undefined, machine: false },
  );
});
