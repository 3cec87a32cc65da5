/**
 * A dialer pass claims a batch of leads (`dialing`, counted against `maxConcurrent`), then checks and
 * dials them one by one. When a step of that pass fails on the store (a locked database: the
 * do-not-call look-up, taking the dial slot, opening the attempt of a call Twilio placed), the claims it
 * had not turned into attempts go back to pending, and a later pass dials them; a lead whose call Twilio
 * already placed is adopted on that pass, never dialled twice. Before, they stayed `dialing` until a
 * restart: the campaign showed `running` and dialled nothing more.
 */

import assert from "node:assert/strict";
import type { CampaignInput } from "../../src/store/campaign.ts";
import type { Campaigns, DoNotCallList, Store } from "../../src/store/ports.ts";
import { DEFAULT_RETRY } from "../../src/dialer/outcomes.ts";
import type { TestParley } from "../../testing/parley_harness.ts";
import type { FakeTwilioRest } from "../../testing/fake_twilio_rest.ts";
import { within } from "../../testing/within.ts";
import { API_TOKEN, startCampaignParley } from "./_campaign_parley.ts";

const MONDAY_10_NY = Date.parse("2026-12-07T15:00:00Z");
const PHONES = ["+14155556001", "+14155556002", "+14155556003"];

/** The failures to inject: each call of `object.method` asks it, and fails with the error it returns. */
type Faults = (object: "campaigns" | "doNotCall", method: string) => Error | undefined;

/** `object.method` fails with "database is locked" the first `times` calls after this is made. */
function lockedFor(object: "campaigns" | "doNotCall", method: string, times = 1): Faults {
  let left = times;
  return (o, m) => {
    if (o !== object || m !== method || left === 0) return undefined;
    left--;
    return new Error("database is locked");
  };
}

/** `target` whose methods ask `faults` first. */
function withFaults<T extends object>(target: T, object: "campaigns" | "doNotCall", faults: () => Faults): T {
  return new Proxy(target, {
    get: (t, name) => {
      const value = Reflect.get(t, name);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const error = faults()(object, String(name));
        return error === undefined ? value.apply(t, args) : Promise.reject(error);
      };
    },
  });
}

/** Parley whose dialer (ticked by hand, on a fake clock) reads the store through injected faults. */
interface Rig {
  t: TestParley;
  rest: FakeTwilioRest;
  store: Store;
  clock: { now: number };
  /** Sets the faults from now on (none at first). */
  inject(faults: Faults): void;
  /** A running campaign of `phones`, made in the store (nothing wakes the dialer). */
  campaign(phones: string[], maxConcurrent: number, callsPerSecond: number): Promise<number>;
  /** Posts Twilio's signed final status for `callSid`. */
  status(callSid: string, status: string): Promise<void>;
  /** The calls Twilio was asked to place, by number. */
  dialled(): string[];
}

async function withRig(body: (rig: Rig) => Promise<void>): Promise<void> {
  let faults: Faults = () => undefined;
  await using c = await startCampaignParley(MONDAY_10_NY, {}, undefined, {
    ports: (store) => ({
      campaigns: withFaults<Campaigns>(store.campaigns, "campaigns", () => faults),
      doNotCall: withFaults<DoNotCallList>(store.doNotCall, "doNotCall", () => faults),
    }),
  });
  const { t, rest, store, clock } = c;
  const input = (maxConcurrent: number, callsPerSecond: number): CampaignInput => ({
    name: "Failed step",
    persona: "alex",
    voice: undefined,
    parameters: {},
    window: { timezone: "UTC", days: ["mon"], start: "00:00", end: "24:00" },
    maxConcurrent,
    callsPerSecond,
    retry: { ...DEFAULT_RETRY },
    machineDetection: false,
  });
  await body({
    t,
    rest,
    store,
    clock,
    inject: (f) => faults = f,
    campaign: async (phones, maxConcurrent, callsPerSecond) => {
      const leads = phones.map((phone, i) => ({
        leadId: null,
        name: `Lead ${i + 1}`,
        phone,
        timezone: null,
        fields: {},
      }));
      return (await store.campaigns.create(input(maxConcurrent, callsPerSecond), leads, "running")).id;
    },
    status: (callSid, status) => c.status(callSid, { CallStatus: status }),
    dialled: () =>
      rest.requests.filter((r) => r.method === "POST" && r.path.endsWith("/Calls.json"))
        .map((r) => r.form.get("To") ?? ""),
  });
}

/** Each lead's state, attempts and claim, in order. */
async function leadStates(store: Store, campaignId: number) {
  return (await store.campaigns.leads(campaignId)).map((l) => `${l.state}/${l.attempts}/${l.claimedBy}`);
}

/** The log lines naming the injected failure. */
function lockedLines(t: TestParley) {
  return t.logs.filter((l) => /database is locked/.test(l.line));
}

Deno.test("dialer: a pass whose dial slot fails on the store puts its claims back; later passes dial them all", async () => {
  await withRig(async ({ t, store, clock, inject, campaign, status, dialled, rest }) => {
    const dialer = t.parley.dialer!;
    const id = await campaign(PHONES, 2, 2);
    inject(lockedFor("campaigns", "beginDial"));

    await assert.rejects(dialer.tick(), /database is locked/);
    assert.deepEqual(dialled(), [], "nothing dialled on the failed pass");
    assert.deepEqual(
      await leadStates(store, id),
      ["pending/0/null", "pending/0/null", "pending/0/null"],
      "the batch it claimed (leads 1 and 2) is back to pending, no attempt counted",
    );
    const lines = lockedLines(t);
    assert.equal(lines.length, 1, "the failure is logged once");
    assert.equal(lines[0]!.level, "error");
    assert.match(
      lines[0]!.line,
      /campaign \d+: database is locked; put back 2 claimed lead\(s\) not dialled/,
    );

    // The next pass dials the two leads the failed one had claimed.
    clock.now += 1_000;
    await dialer.tick();
    assert.deepEqual(dialled(), PHONES.slice(0, 2));
    assert.deepEqual(await leadStates(store, id), [
      "dialing/1/test-host",
      "dialing/1/test-host",
      "pending/0/null",
    ]);

    // One ends: its slot goes to lead 3.
    await status(rest.calls[0]!.sid, "completed");
    await dialer.settled();
    clock.now += 1_000;
    await dialer.tick();
    assert.deepEqual(dialled(), PHONES, "each lead dialled once");
    const view = await (await fetch(`${t.origin}/api/campaigns/${id}`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    })).json();
    assert.equal(view.state, "running");
    assert.equal(lockedLines(t).length, 1);
  });
});

Deno.test("dialer: a pass whose do-not-call look-up fails on the store puts its claims back", async () => {
  await withRig(async ({ t, store, clock, inject, campaign, dialled }) => {
    const dialer = t.parley.dialer!;
    const id = await campaign(PHONES.slice(0, 2), 2, 2);
    inject(lockedFor("doNotCall", "has"));

    await assert.rejects(dialer.tick(), /database is locked/);
    assert.deepEqual(await leadStates(store, id), ["pending/0/null", "pending/0/null"]);
    assert.equal(lockedLines(t).length, 1);

    clock.now += 1_000;
    await dialer.tick();
    assert.deepEqual(dialled(), PHONES.slice(0, 2));
  });
});

Deno.test("dialer: a call Twilio placed whose attempt could not be stored is adopted on the next pass, not dialled twice", async () => {
  await withRig(async ({ t, store, clock, inject, campaign, status, dialled, rest }) => {
    const dialer = t.parley.dialer!;
    const id = await campaign(PHONES.slice(0, 2), 2, 2);
    inject(lockedFor("campaigns", "startAttempt"));

    // Twilio places lead 1's call; its attempt cannot be stored, and lead 2 is not reached.
    await assert.rejects(dialer.tick(), /database is locked/);
    assert.deepEqual(dialled(), [PHONES[0]]);
    const leads = await store.campaigns.leads(id);
    assert.deepEqual(leads.map((l) => `${l.state}/${l.attempts}/${l.claimedBy}`), [
      "pending/0/null",
      "pending/0/null",
    ]);
    assert.notEqual(leads[0]!.requestedAt, null, "lead 1's request stays noted: Twilio is asked first");
    const lines = lockedLines(t);
    assert.equal(lines.length, 1, "the failure is logged once");
    assert.match(
      lines[0]!.line,
      new RegExp(
        `Dialer: campaign ${id}: lead ${leads[0]!.id}: Twilio placed CallSid=${
          rest.calls[0]!.sid
        } and its attempt could not be stored \\(database is locked\\).*; put back 2 claimed lead\\(s\\) not dialled$`,
      ),
    );

    // The next pass asks Twilio about lead 1, adopts its call, and dials lead 2.
    clock.now += 1_000;
    await dialer.tick();
    assert.deepEqual(dialled(), PHONES.slice(0, 2), "lead 1 was not dialled again");
    assert.ok(
      rest.requests.some((r) => r.method === "GET" && r.query.get("To") === PHONES[0]),
      "Twilio was asked about lead 1's call",
    );
    const attempts = await store.campaigns.attempts(id);
    assert.deepEqual(
      attempts.map((a) => [a.campaignLeadId, a.callSid]),
      [[leads[0]!.id, rest.calls[0]!.sid], [leads[1]!.id, rest.calls[1]!.sid]],
    );

    for (const call of rest.calls) await status(call.sid, "completed");
    await dialer.settled();
    await dialer.tick();
    assert.deepEqual(await leadStates(store, id), ["done/1/null", "done/1/null"]);
  });
});

Deno.test("dialer: claims a failed pass could not put back (the store still locked) go back on the next pass", async () => {
  await withRig(async ({ t, store, clock, inject, campaign, dialled }) => {
    const dialer = t.parley.dialer!;
    const id = await campaign(PHONES.slice(0, 2), 2, 2);
    const slot = lockedFor("campaigns", "beginDial");
    const release = lockedFor("campaigns", "releaseClaims");
    inject((o, m) => slot(o, m) ?? release(o, m));

    await assert.rejects(dialer.tick(), /database is locked/);
    assert.deepEqual(await leadStates(store, id), ["dialing/0/test-host", "dialing/0/test-host"]);

    // The store answers again: the next pass puts them back before it claims, and dials them.
    clock.now += 1_000;
    await dialer.tick();
    assert.deepEqual(dialled(), PHONES.slice(0, 2));
    assert.deepEqual(await leadStates(store, id), ["dialing/1/test-host", "dialing/1/test-host"]);
    const lines = lockedLines(t);
    assert.equal(lines.length, 1, "the failure logged once");
    assert.equal(lines[0]!.level, "error");
    assert.match(lines[0]!.line, /could not be put back \(database is locked\): the next pass does/);
  });
});

Deno.test("dialer: a final status the store cannot take at once is settled when it can, not lost", async () => {
  await withRig(async ({ t, store, inject, campaign, status, rest }) => {
    const dialer = t.parley.dialer!;
    const id = await campaign(PHONES.slice(0, 1), 1, 1);
    await dialer.tick();
    const callSid = rest.calls[0]!.sid;
    // Twilio's final status comes while the store refuses to end the attempt (twice): Twilio has its
    // 204 and will not say it again.
    inject(lockedFor("campaigns", "finishAttempt", 2));
    await status(callSid, "completed");
    await within(
      t.waitForLog(/Dialer: cannot settle the final status of CA\w+: database is locked/),
      "the failure logged",
    );
    await within(
      t.waitForLog(/Dialer: settled again after [\d.]+ s: 1 settled, 0 dropped/),
      "the retry",
      10_000,
    );
    const [attempt] = await store.campaigns.attempts(id);
    assert.equal(attempt!.callSid, callSid);
    assert.equal(attempt!.disposition, "completed");
    assert.deepEqual(await leadStates(store, id), ["done/1/null"]);
    assert.equal(lockedLines(t).length, 1, "the outage is logged once");
  });
});
