/**
 * The storage contract: what every adapter behind `src/store/ports.ts` must do, run against a fresh
 * store from a factory. `sqlite_contract_test.ts` runs it for SQLite; the Postgres adapter runs the
 * same function. Each step opens its own store(s) and closes them.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type CallEvent, type CallStatus } from "../../src/calls/call_events.ts";
import { CallHub } from "../../src/calls/call_hub.ts";
import type { EventBus, Store } from "../../src/store/ports.ts";
import type { CampaignInput } from "../../src/store/campaign.ts";
import { WebhookBeingSentError } from "../../src/store/webhook_outbox.ts";

/** Opens a fresh store for `instance`; every store a factory opens shares one database. */
export interface StoreFactory {
  /** A store of `instance` over the shared database (two calls: two instances on one database). */
  open(instance: string): Promise<Store>;
  /** The bus the adapter goes with (one per instance). @default a new in-process `CallHub` */
  bus?(store: Store): EventBus;
  /** Resolves once the bus has delivered what was written so far (a bus across instances). */
  settle?(bus: EventBus): Promise<void>;
  /** Removes the shared database. */
  dispose(): Promise<void>;
}

const SID = "CA00000000000000000000000000000c01";
const OTHER = "CA00000000000000000000000000000c02";

/** Events until a record is readable: the listener queues, reads see what was queued. */
function started(callSid: string, at: number): CallEvent {
  return {
    type: "call.started",
    at,
    callSid,
    streamSid: `MZ${callSid.slice(2)}`,
    persona: "alex",
    model: "gpt-realtime-2.1",
    parameters: {},
  };
}

function line(callSid: string, at: number, text: string): CallEvent {
  return { type: "transcript", at, callSid, speaker: "caller", text };
}

/**
 * Runs the whole contract as steps of `t`, each against stores from `factory`.
 *
 * @example
 * ```ts
 * Deno.test("SQLite store contract", (t) => runStoreContract(t, sqliteFactory()));
 * ```
 */
export async function runStoreContract(t: Deno.TestContext, makeFactory: () => StoreFactory): Promise<void> {
  const withStores = async (
    body: (open: (instance: string) => Promise<Store>, f: StoreFactory) => Promise<void>,
  ) => {
    const factory = makeFactory();
    const opened: Store[] = [];
    try {
      await body(async (instance) => {
        const store = await factory.open(instance);
        opened.push(store);
        return store;
      }, factory);
    } finally {
      for (const store of opened) store.close();
      await factory.dispose();
    }
  };
  const busOf = (factory: StoreFactory, store: Store): EventBus => factory.bus?.(store) ?? new CallHub();
  /**
   * A feed's listener that records what it hears, and `until(n)`: resolves once `n` events were heard
   * (at once for the in-process hub; a bus across instances delivers a moment later).
   */
  const feed = <T>(map: (event: CallEvent, seq: number | undefined) => T) => {
    const heard: T[] = [];
    let waiter: { n: number; resolve: () => void } | undefined;
    return {
      heard,
      listener: (event: CallEvent, seq?: number) => {
        heard.push(map(event, seq));
        if (waiter !== undefined && heard.length >= waiter.n) waiter.resolve();
      },
      /** Fails after 10 s (a feed that hears nothing must fail, not hang). */
      until(n: number): Promise<void> {
        if (heard.length >= n) return Promise.resolve();
        let timer: ReturnType<typeof setTimeout> | undefined;
        return new Promise<void>((resolve, reject) => {
          waiter = { n, resolve };
          timer = setTimeout(
            () => reject(new Error(`the feed heard ${heard.length} of ${n} events in 10 s`)),
            10_000,
          );
        }).finally(() => clearTimeout(timer));
      },
    };
  };

  await t.step("records: events merge into one record naming its instance; the first end wins", async () => {
    await withStores(async (open) => {
      const store = await open("alpha");
      await store.calls.record(started(SID, 1_000));
      await store.calls.record(line(SID, 1_100, "Hello?"));
      await store.calls.record({ ...line(SID, 1_900, "Bye."), spokenAt: 1_500 } as CallEvent);
      await store.calls.record({
        type: "call.ended",
        at: 2_000,
        callSid: SID,
        reason: "caller_hung_up",
        detail: "",
      });
      await store.calls.record({
        type: "call.ended",
        at: 3_000,
        callSid: SID,
        reason: "server_shutdown",
        detail: "",
      });
      const record = await store.calls.getCall(SID);
      assert.equal(record?.instance, "alpha");
      assert.equal(record?.persona, "alex");
      assert.deepEqual(record?.transcript.map((l) => [l.text, l.at, l.spokenAt]), [
        ["Hello?", 1_100, null],
        ["Bye.", 1_900, 1_500],
      ]);
      assert.equal(record?.endReason, "caller_hung_up");
      assert.equal(record?.endedAt, 2_000);
      assert.equal(record?.durationMs, 1_000);
      assert.equal(await store.calls.getCall(OTHER), undefined);
      assert.deepEqual((await store.calls.listCalls()).map((c) => [c.callSid, c.instance]), [[SID, "alpha"]]);
    });
  });

  await t.step(
    "records: a done analysis's cost joins the call's cost, once; an unpriced one makes it unknown",
    async () => {
      await withStores(async (open) => {
        const store = await open("alpha");
        const usage = (callSid: string, at: number): CallEvent => ({
          type: "usage",
          at,
          callSid,
          engine: "realtime",
          model: "gpt-realtime-2.1",
          usage: {
            responseId: `resp_${at}`,
            inputTextTokens: 1_000,
            inputAudioTokens: 300,
            inputCachedTokens: 0,
            outputTextTokens: 40,
            outputAudioTokens: 200,
          },
        });
        const analyzed = (callSid: string, costUsd: number | null): CallEvent => ({
          type: "call.analyzed",
          at: 5_000,
          callSid,
          state: "done",
          outcome: { interested: true },
          error: null,
          costUsd,
        });
        for (const callSid of [SID, OTHER]) {
          await store.calls.record(started(callSid, 1_000));
          await store.calls.record(usage(callSid, 1_500));
          await store.calls.record({
            type: "call.ended",
            at: 2_000,
            callSid,
            reason: "caller_hung_up",
            detail: "",
          });
        }
        const own = (await store.calls.getCall(SID))!.costUsd!;
        assert.ok(own > 0, `the call's own cost: ${own}`);
        await store.calls.record(analyzed(SID, 0.0065));
        await store.calls.record(analyzed(SID, 0.0065)); // the same event again counts once
        await store.calls.record(analyzed(OTHER, null));
        assert.ok(Math.abs((await store.calls.getCall(SID))!.costUsd! - (own + 0.0065)) < 1e-12);
        const listed = new Map((await store.calls.listCalls()).map((c) => [c.callSid, c.costUsd]));
        assert.ok(Math.abs(listed.get(SID)! - (own + 0.0065)) < 1e-12);
        assert.equal((await store.calls.getCall(OTHER))!.costUsd, null, "an unpriced analysis: unknown");
        assert.equal(listed.get(OTHER), null);
      });
    },
  );

  await t.step(
    "records: what a call came through is phone unless its webhook says softphone or rehearsal",
    async () => {
      await withStores(async (open) => {
        const store = await open("alpha");
        const webhook = (callSid: string, source?: "softphone" | "rehearsal"): CallEvent => ({
          type: "call.webhook",
          at: 1_000,
          callSid,
          persona: "sam",
          direction: "inbound",
          ...(source === undefined ? {} : { source }),
          from: "+14155550100",
          to: "+14155550111",
          parameters: {},
        });
        await store.calls.record(webhook("CA_phone"));
        await store.calls.record(webhook("CA_soft", "softphone"));
        await store.calls.record(webhook("CA_rehearsal", "rehearsal"));
        await store.calls.record(started("CA_placed", 2_000));
        const sids = ["CA_phone", "CA_soft", "CA_rehearsal", "CA_placed"];
        const expected = ["phone", "softphone", "rehearsal", "phone"];
        assert.deepEqual(
          await Promise.all(sids.map(async (sid) => (await store.calls.getCall(sid))?.source)),
          expected,
        );
        const listed = new Map((await store.calls.listCalls()).map((c) => [c.callSid, c.source]));
        assert.deepEqual(sids.map((sid) => listed.get(sid)), expected);
      });
    },
  );

  await t.step("records: the listener queues without waiting; reads see every queued event", async () => {
    await withStores(async (open) => {
      const store = await open("alpha");
      store.calls.listener(started(SID, 1_000), 1);
      store.calls.listener(line(SID, 1_100, "one"), 2);
      store.calls.listener(line(SID, 1_200, "two"), 3);
      const record = await store.calls.getCall(SID);
      assert.deepEqual(record?.transcript.map((l) => l.text), ["one", "two"]);
      assert.equal(record?.eventSeq, 3);
      assert.equal(store.calls.health().failing, false);
    });
  });

  await t.step(
    "records: a line holding a NUL character neither fails the write nor holds up later events",
    async () => {
      await withStores(async (open) => {
        const store = await open("alpha");
        store.calls.listener(started(SID, 1_000), 1);
        store.calls.listener(line(SID, 1_100, "before\u0000after"), 2);
        store.calls.listener(line(SID, 1_200, "next"), 3);
        const record = await store.calls.getCall(SID);
        assert.equal(record?.transcript.length, 2);
        // The text up to the NUL at least (SQLite keeps "before"; Postgres keeps both halves around a U+FFFD).
        assert.match(record!.transcript[0]!.text, /^before/);
        assert.equal(record?.transcript[1]?.text, "next");
        assert.equal(store.calls.health().failing, false);
      });
    },
  );

  await t.step("live feed: read the record, subscribe after its eventSeq: no gap, no repeat", async () => {
    await withStores(async (open, factory) => {
      const store = await open("alpha");
      const bus = busOf(factory, store);
      const offStore = bus.subscribe(store.calls.listener);
      try {
        bus.publish(started(SID, 1_000));
        bus.publish(line(SID, 1_100, "before the read"));
        bus.publish(line(OTHER, 1_150, "another call"));
        const reading = store.calls.getCall(SID);
        // Published while the read is on its way: the snapshot may or may not hold it; the feed must.
        bus.publish(line(SID, 1_200, "during the read"));
        const snapshot = (await reading)!;
        bus.publish(line(SID, 1_300, "between the read and the subscription"));
        const { heard, listener, until } = feed((event, seq): [number | undefined, string] => [
          seq,
          event.type === "transcript" ? event.text : event.type,
        ]);
        const off = bus.subscribe(listener, { callSid: SID, after: snapshot.eventSeq });
        bus.publish(line(SID, 1_400, "after the subscription"));
        await until(4 - snapshot.transcript.length);
        off();
        const fromSnapshot = snapshot.transcript.map((l) => l.text);
        const fromFeed = heard.map(([, text]) => text);
        assert.deepEqual([...fromSnapshot, ...fromFeed], [
          "before the read",
          "during the read",
          "between the read and the subscription",
          "after the subscription",
        ]);
        const positions = heard.map(([seq]) => seq!);
        assert.deepEqual(
          positions,
          positions.map((_, i) => snapshot.eventSeq + 1 + i),
          "consecutive positions",
        );
      } finally {
        offStore();
      }
    });
  });

  await t.step(
    "live feed: a subscriber from position 0 hears the call's events, in order, once",
    async () => {
      await withStores(async (open, factory) => {
        const store = await open("alpha");
        const bus = busOf(factory, store);
        const offStore = bus.subscribe(store.calls.listener);
        bus.publish(started(SID, 1_000));
        bus.publish(line(SID, 1_100, "a"));
        bus.publish(line(OTHER, 1_150, "not this call"));
        const { heard, listener, until } = feed((event) => event.type);
        const off = bus.subscribe(listener, { callSid: SID, after: 0 });
        bus.publish({ type: "call.ended", at: 2_000, callSid: SID, reason: "caller_hung_up", detail: "" });
        await until(3);
        off();
        bus.publish(line(SID, 2_100, "after the unsubscription"));
        // Written and announced before the check, so a feed that ignored off() would have heard it.
        assert.equal((await store.calls.getCall(SID))?.transcript.length, 2);
        await factory.settle?.(bus);
        offStore();
        assert.deepEqual(heard, ["call.started", "transcript", "call.ended"]);
      });
    },
  );

  await t.step("bus: a subscription to every call hears this instance's events only", async () => {
    await withStores(async (open, factory) => {
      const alpha = busOf(factory, await open("alpha"));
      const beta = busOf(factory, await open("beta"));
      const heard: string[] = [];
      // What the store and the never-connected watch act on: never another instance's calls.
      const off = alpha.subscribe((event) => heard.push(event.callSid));
      beta.publish(started(OTHER, 1_000));
      alpha.publish(started(SID, 1_000));
      off();
      assert.deepEqual(heard, [SID]);
    });
  });

  await t.step(
    "crash clean-up: only this instance's open calls are closed",
    async () => {
      await withStores(async (open) => {
        const alpha = await open("alpha");
        const beta = await open("beta");
        await alpha.calls.record(started(SID, 1_000));
        await alpha.calls.record(line(SID, 1_500, "last words"));
        await beta.calls.record(started(OTHER, 1_000));
        assert.deepEqual(await alpha.calls.closeAbandonedRecords("server_crashed", "restart"), [SID]);
        const closed = await alpha.calls.getCall(SID);
        assert.equal(closed?.endReason, "server_crashed");
        assert.equal(closed?.endedAt, 1_500, "closed at its last event");
        assert.equal(
          (await beta.calls.getCall(OTHER))?.endedAt,
          null,
          "another instance's call is left alone",
        );
        assert.deepEqual(await alpha.calls.closeAbandonedRecords("server_crashed", "again"), []);
        assert.deepEqual(await beta.calls.closeAbandonedRecords("server_crashed", "its own"), [OTHER]);
      });
    },
  );

  await t.step(
    "crash clean-up: calls this instance placed that still ring are taken up, not closed, within Twilio's longest ring",
    async () => {
      await withStores(async (open) => {
        const alpha = await open("alpha");
        const beta = await open("beta");
        const RINGING = "CA00000000000000000000000000000c11";
        const ANSWERED = "CA00000000000000000000000000000c12";
        const OLD = "CA00000000000000000000000000000c13";
        const RUNNING = "CA00000000000000000000000000000c14";
        const INBOUND = "CA00000000000000000000000000000c15";
        const DECLINED = "CA00000000000000000000000000000c16";
        const placed = (callSid: string, at: number): CallEvent => ({
          type: "call.placed",
          at,
          callSid,
          persona: "alex",
          from: "+14155550199",
          to: "+14155550123",
          parameters: { lead: "Dana" },
        });
        const webhook = (callSid: string, at: number, direction: string): CallEvent => ({
          type: "call.webhook",
          at,
          callSid,
          persona: "alex",
          direction,
          from: "+14155550199",
          to: "+14155550123",
          parameters: { persona: "alex", lead: "Dana" },
        });
        await alpha.calls.record(placed(RINGING, 10_000));
        await alpha.calls.record({
          type: "call.status",
          at: 10_100,
          callSid: RINGING,
          status: "ringing",
          detail: "",
        });
        await alpha.calls.record(placed(ANSWERED, 9_000));
        await alpha.calls.record(webhook(ANSWERED, 9_500, "outbound-api"));
        await alpha.calls.record(placed(OLD, 1_000));
        await alpha.calls.record(placed(RUNNING, 9_000));
        await alpha.calls.record(started(RUNNING, 9_600));
        await alpha.calls.record(webhook(INBOUND, 9_700, "inbound"));
        // Its final status came, its end did not (the run stopped between the two): it is over.
        await alpha.calls.record(placed(DECLINED, 9_800));
        await alpha.calls.record({
          type: "call.status",
          at: 9_900,
          callSid: DECLINED,
          status: "busy",
          detail: "",
        });
        await beta.calls.record(placed(OTHER, 10_000));

        // Placed here since 5 000 and never started: taken up (oldest first), left open.
        assert.deepEqual(await alpha.calls.takeUpRingingRecords(5_000), [
          { callSid: ANSWERED, persona: "alex", placedAt: 9_000, webhookAt: 9_500 },
          { callSid: RINGING, persona: "alex", placedAt: 10_000, webhookAt: null },
        ]);
        const closed = await alpha.calls.closeAbandonedRecords("server_crashed", "restart", {
          sparePlacedSince: 5_000,
        });
        assert.deepEqual(closed.toSorted(), [OLD, RUNNING, INBOUND, DECLINED].toSorted());
        for (const callSid of [RINGING, ANSWERED]) {
          const record = await alpha.calls.getCall(callSid);
          assert.equal(record?.endedAt, null, `${callSid} left open`);
          assert.equal(record?.endReason, null);
          assert.equal(record?.persona, "alex");
          assert.equal(record?.parameters.lead, "Dana");
          assert.equal(await alpha.calls.isOpenCall(callSid), true);
        }
        assert.equal((await alpha.calls.getCall(OLD))?.endReason, "server_crashed", "placed before the ring");
        assert.equal((await alpha.calls.getCall(RUNNING))?.endReason, "server_crashed", "its stream started");
        assert.equal((await alpha.calls.getCall(INBOUND))?.endReason, "server_crashed", "not placed here");
        assert.equal(
          (await alpha.calls.getCall(DECLINED))?.endReason,
          "server_crashed",
          "its final status came",
        );
        assert.equal((await alpha.calls.getCall(OTHER))?.endedAt, null, "another instance's call");

        // A call taken up ends as any call does.
        await alpha.calls.record({
          type: "call.ended",
          at: 12_000,
          callSid: RINGING,
          reason: "never_connected",
          detail: "Twilio reports the call no-answer before any media stream",
        });
        assert.equal((await alpha.calls.getCall(RINGING))?.endReason, "never_connected");
        assert.deepEqual((await alpha.calls.takeUpRingingRecords(5_000)).map((r) => r.callSid), [ANSWERED]);
        // Without sparing, the clean-up closes them as before; the other instance takes up its own.
        assert.deepEqual(await alpha.calls.closeAbandonedRecords("server_crashed", "later"), [ANSWERED]);
        assert.deepEqual(await alpha.calls.takeUpRingingRecords(0), []);
        assert.deepEqual(
          (await beta.calls.takeUpRingingRecords(10_001)).map((r) => r.callSid),
          [],
          "placed before the bound",
        );
        assert.deepEqual((await beta.calls.takeUpRingingRecords(10_000)).map((r) => r.callSid), [OTHER]);
      });
    },
  );

  await t.step(
    "crash clean-up: a dev restart's noted reason stays on the calls that started, not on those taken up",
    async () => {
      await withStores(async (open) => {
        const alpha = await open("alpha");
        if (alpha.calls.noteCutRecords === undefined) return; // only an adapter that writes at once has it
        const RINGING = "CA00000000000000000000000000000c21";
        await alpha.calls.record({
          type: "call.placed",
          at: 10_000,
          callSid: RINGING,
          persona: "alex",
          from: "+14155550199",
          to: "+14155550123",
          parameters: {},
        });
        await alpha.calls.record(started(SID, 9_000));
        assert.deepEqual(
          (await alpha.calls.noteCutRecords("server_shutdown", "deno task dev restarted")).toSorted(),
          [RINGING, SID].toSorted(),
        );
        assert.deepEqual((await alpha.calls.takeUpRingingRecords(5_000)).map((r) => r.callSid), [RINGING]);
        assert.deepEqual(
          await alpha.calls.closeAbandonedRecords("server_crashed", "restart", { sparePlacedSince: 5_000 }),
          [SID],
        );
        const cut = await alpha.calls.getCall(SID);
        assert.equal(cut?.endReason, "server_shutdown");
        assert.equal(cut?.endDetail, "deno task dev restarted");
        const ringing = await alpha.calls.getCall(RINGING);
        assert.equal(ringing?.endedAt, null);
        assert.equal(ringing?.endReason, null, "the noted reason is dropped");
        // Its end, when it comes, is its own.
        await alpha.calls.record({
          type: "call.ended",
          at: 11_000,
          callSid: RINGING,
          reason: "never_connected",
          detail: "Twilio never fetched the voice webhook",
        });
        assert.equal((await alpha.calls.getCall(RINGING))?.endReason, "never_connected");
      });
    },
  );

  await t.step(
    "crash clean-up: a stop's reason noted on the ringing calls it left open closes them when the next start is too late",
    async () => {
      await withStores(async (open) => {
        const alpha = await open("alpha");
        if (alpha.calls.noteCutRecords === undefined) return; // only an adapter that writes at once has it
        const RINGING = "CA00000000000000000000000000000c31";
        const LATER = "CA00000000000000000000000000000c32";
        for (const [callSid, at] of [[RINGING, 10_000], [LATER, 20_000]] as const) {
          await alpha.calls.record({
            type: "call.placed",
            at,
            callSid,
            persona: "alex",
            from: "+14155550199",
            to: "+14155550123",
            parameters: {},
          });
        }
        // Open, but not among those the stop left ringing: no reason noted on it.
        await alpha.calls.record(started(SID, 9_000));
        const detail = "the server stopped before the media stream started";
        assert.deepEqual(
          (await alpha.calls.noteCutRecords("server_shutdown", detail, { callSids: [RINGING, LATER] }))
            .toSorted(),
          [RINGING, LATER].toSorted(),
        );
        assert.equal((await alpha.calls.getCall(RINGING))?.endedAt, null, "noted, still open");
        // The next start comes 605 s after RINGING was placed (Twilio's longest ring is 600 s): in time for LATER only.
        const placedSince = 615_000 - 600_000;
        assert.deepEqual((await alpha.calls.takeUpRingingRecords(placedSince)).map((r) => r.callSid), [
          LATER,
        ]);
        assert.deepEqual(
          (await alpha.calls.closeAbandonedRecords("server_crashed", "crash or kill", {
            sparePlacedSince: placedSince,
          }))
            .toSorted(),
          [RINGING, SID].toSorted(),
        );
        const late = await alpha.calls.getCall(RINGING);
        assert.equal(late?.endReason, "server_shutdown", "not server_crashed: the stop was clean");
        assert.equal(late?.endDetail, detail);
        assert.equal(late?.endedAt, 10_000, "at its last sign of life");
        const crashed = await alpha.calls.getCall(SID);
        assert.equal(crashed?.endReason, "server_crashed", "a record not named keeps the start's reason");
        const takenUp = await alpha.calls.getCall(LATER);
        assert.equal(takenUp?.endedAt, null);
        assert.equal(takenUp?.endReason, null, "the noted reason is dropped");
      });
    },
  );

  await t.step("records: the instance that runs the stream takes the call", async () => {
    await withStores(async (open) => {
      const alpha = await open("alpha");
      const beta = await open("beta");
      await alpha.calls.record({
        type: "call.webhook",
        at: 900,
        callSid: SID,
        persona: "alex",
        direction: "inbound",
        from: "+14155550100",
        to: "+14155550199",
        parameters: {},
      });
      assert.equal((await beta.calls.getCall(SID))?.instance, "alpha");
      await beta.calls.record(started(SID, 1_000));
      assert.equal((await alpha.calls.getCall(SID))?.instance, "beta");
      assert.deepEqual(await alpha.calls.closeAbandonedRecords("server_crashed", ""), []);
    });
  });

  await t.step(
    "records: an open call is one Parley placed or answered, until its end, seen by any instance",
    async () => {
      await withStores(async (open) => {
        const alpha = await open("alpha");
        const beta = await open("beta");
        assert.equal(await alpha.calls.isOpenCall(SID), false, "unknown");
        // A status callback alone names no direction: not a call Parley placed or answered.
        await alpha.calls.record({
          type: "call.status",
          at: 800,
          callSid: OTHER,
          status: "ringing",
          detail: "",
        });
        assert.equal(await alpha.calls.isOpenCall(OTHER), false, "status only");
        await alpha.calls.record({
          type: "call.placed",
          at: 900,
          callSid: SID,
          persona: "alex",
          from: "+14155550199",
          to: "+14155550100",
          parameters: {},
        });
        assert.equal(await alpha.calls.isOpenCall(SID), true, "placed");
        assert.equal(await beta.calls.isOpenCall(SID), true, "placed, read by another instance");
        await alpha.calls.record({
          type: "call.ended",
          at: 2_000,
          callSid: SID,
          reason: "never_connected",
          detail: "",
        });
        assert.equal(await beta.calls.isOpenCall(SID), false, "ended");
      });
    },
  );

  await t.step(
    "records: a status callback that arrives late never replaces a final status (Twilio's may come out of order)",
    async () => {
      await withStores(async (open) => {
        const alpha = await open("alpha");
        const beta = await open("beta");
        const status = (at: number, value: CallStatus): CallEvent => ({
          type: "call.status",
          at,
          callSid: SID,
          status: value,
          detail: `CallStatus=${value}`,
        });
        await alpha.calls.record(started(SID, 1_000));
        await alpha.calls.record(status(1_100, "ringing"));
        await alpha.calls.record(status(1_200, "completed"));
        await beta.calls.record(status(1_300, "in-progress")); // sent before, delivered after
        await alpha.calls.record(status(1_400, "machine-detected"));
        const record = await beta.calls.getCall(SID);
        assert.equal(record?.status, "completed");
        assert.deepEqual(record?.statuses.map((s) => s.status), [
          "ringing",
          "completed",
          "in-progress",
          "machine-detected",
        ], "every callback is kept in the history");
        assert.equal((await alpha.calls.listCalls())[0]?.status, "completed");
      });
    },
  );

  await t.step("after-stream decision: recorded by one instance, read by any", async () => {
    await withStores(async (open) => {
      const alpha = await open("alpha");
      const beta = await open("beta");
      assert.equal(await beta.afterStream.afterStreamDecision(SID), undefined);
      await alpha.calls.record(started(SID, 1_000));
      assert.equal(
        await beta.afterStream.afterStreamDecision(SID),
        "pending",
        "started, neither ended nor decided: its decision is on its way",
      );
      await alpha.calls.record({
        type: "call.after_stream",
        at: 2_000,
        callSid: SID,
        action: "dial",
        target: "+14155550123",
      });
      assert.deepEqual(await beta.afterStream.afterStreamDecision(SID), {
        action: "dial",
        target: "+14155550123",
      });
      await alpha.calls.record(started(OTHER, 1_000));
      await alpha.calls.record({
        type: "call.ended",
        at: 1_500,
        callSid: OTHER,
        reason: "error",
        detail: "",
      });
      assert.equal(
        await beta.afterStream.afterStreamDecision(OTHER),
        undefined,
        "ended without a decision: none will come",
      );
      await alpha.calls.record({ type: "call.after_stream", at: 2_000, callSid: OTHER, action: "hangup" });
      assert.deepEqual(await beta.afterStream.afterStreamDecision(OTHER), {
        action: "hangup",
        target: undefined,
      });
    });
  });

  await t.step("leads: create, read, page, find by phone, update, import, delete, calls of", async () => {
    await withStores(async (open) => {
      const store = await open("alpha");
      const { leads } = store;
      const [ada, bob] = await leads.create([
        { name: "Ada", phone: "+14155550100", company: "", notes: "", fields: { plan: "pro" } },
        { name: "bob", phone: "+14155550101", company: "Acme", notes: "", fields: {} },
      ]);
      assert.ok(ada !== undefined && bob !== undefined && ada.id !== bob.id);
      assert.deepEqual(await leads.get(ada.id), ada);
      assert.equal(await leads.get(999_999), undefined);
      assert.equal(await leads.count(), 2);
      assert.deepEqual((await leads.page(1)).map((l) => l.name), ["Ada"]);
      assert.deepEqual((await leads.page(5, { name: "Ada", id: ada.id })).map((l) => l.name), ["bob"]);
      assert.equal((await leads.findByPhone("+14155550101"))?.id, bob.id);
      assert.equal(await leads.findByPhone("+14155550199"), undefined);
      assert.equal((await leads.update(ada.id, { notes: "after 3pm" }))?.notes, "after 3pm");
      assert.equal(await leads.update(999_999, { notes: "x" }), undefined);
      const batch = await leads.importBatch(
        [{ name: "Cy", phone: "+14155550102", company: "", notes: "", fields: {} }],
        [{ id: bob.id, changes: { company: "Acme Ltd" } }],
      );
      assert.deepEqual(batch.created.map((l) => l.name), ["Cy"]);
      assert.deepEqual(batch.updated.map((l) => l.company), ["Acme Ltd"]);
      assert.deepEqual((await leads.list()).map((l) => l.name), ["Ada", "bob", "Cy"]);

      await store.calls.record({
        type: "call.placed",
        at: 5_000,
        callSid: SID,
        persona: "alex",
        from: "+14155550199",
        to: "+14155550100",
        parameters: {},
      });
      assert.deepEqual((await leads.callsOf("+14155550100")).map((c) => c.callSid), [SID]);
      assert.deepEqual(await leads.callsOf("+14155550101"), []);

      assert.equal(await leads.delete(bob.id), true);
      assert.equal(await leads.delete(bob.id), false);
      assert.equal(await leads.count(), 2);
    });
  });

  await t.step("sign-in sessions: live until expiry, then gone; ended on sign-out", async () => {
    await withStores(async (open) => {
      const { sessions } = await open("alpha");
      await sessions.create("s1", 2_000, 1_000);
      assert.equal(await sessions.isLive("s1", 1_999), true);
      assert.equal(await sessions.isLive("s1", 2_000), false, "expired at its expiry");
      assert.equal(await sessions.isLive("s1", 1_500), false, "an expired session is forgotten");
      assert.equal(await sessions.isLive("unknown", 1_000), false);
      await sessions.create("s2", 9_000, 1_000);
      await sessions.end("s2");
      assert.equal(await sessions.isLive("s2", 1_000), false);
      await sessions.end("never-was");
    });
  });

  await t.step("used stream tokens: one claim wins, even among concurrent ones", async () => {
    await withStores(async (open) => {
      const { usedStreamTokens } = await open("alpha");
      const claims = await Promise.all(
        Array.from({ length: 8 }, () => usedStreamTokens.claim("token-a", 60_000, 1_000)),
      );
      assert.equal(claims.filter(Boolean).length, 1);
      assert.equal(await usedStreamTokens.claim("token-a", 60_000, 2_000), false, "replayed");
      assert.equal(await usedStreamTokens.claim("token-b", 60_000, 2_000), true, "another token");
    });
  });

  const message = (id: string, at: number, callSid: string | null = SID) => ({
    id,
    type: "call.ended",
    callSid,
    payload: JSON.stringify({ type: "call.ended", id }),
    at,
    expiresAt: at + 86_400_000,
  });

  await t.step("webhook outbox: one message per id; listed newest first, by call", async () => {
    await withStores(async (open) => {
      const { outbox } = await open("alpha");
      assert.equal(await outbox.enqueue(message("msg_a", 1_000)), true);
      assert.equal(await outbox.enqueue({ ...message("msg_a", 5_000), payload: "{}" }), false, "same id");
      assert.equal(await outbox.enqueue(message("msg_b", 2_000, OTHER)), true);
      const all = await outbox.list();
      assert.deepEqual(all.map((d) => d.id), ["msg_b", "msg_a"]);
      const a = await outbox.get("msg_a");
      assert.equal(a?.state, "pending");
      assert.equal(a?.nextTryAt, 1_000, "due when enqueued");
      assert.equal(a?.attempts, 0);
      assert.deepEqual(a?.attemptLog, []);
      assert.deepEqual((await outbox.list({ callSid: OTHER })).map((d) => d.id), ["msg_b"]);
      assert.equal(await outbox.get("nope"), undefined);
      assert.equal(await outbox.nextDueAt(), 1_000);
    });
  });

  await t.step("webhook outbox: a claim takes due messages under a lease, for one instance", async () => {
    await withStores(async (open) => {
      const alpha = await open("alpha");
      const beta = await open("beta");
      await alpha.outbox.enqueue(message("msg_due", 1_000));
      await alpha.outbox.enqueue(message("msg_later", 9_000));
      const claimed = await alpha.outbox.claimDue("alpha", 2_000, 10, 60_000);
      assert.deepEqual(claimed.map((m) => m.id), ["msg_due"], "only what is due");
      assert.equal(claimed[0]!.payload, message("msg_due", 1_000).payload);
      assert.deepEqual(await beta.outbox.claimDue("beta", 2_000, 10, 60_000), [], "leased to alpha");
      assert.deepEqual(
        (await beta.outbox.claimDue("beta", 62_000, 10, 60_000)).map((m) => m.id).sort(),
        ["msg_due", "msg_later"],
        "alpha's lease ran out: beta takes it over",
      );
      // alpha comes back after its lease passed: its attempt is not recorded, beta's is.
      const late = { at: 63_000, instance: "alpha", status: 200, error: null, durationMs: 5 };
      assert.equal(await alpha.outbox.finishAttempt("msg_due", late, { state: "delivered" }), false);
      const fresh = { ...late, instance: "beta" };
      assert.equal(await beta.outbox.finishAttempt("msg_due", fresh, { state: "delivered" }), true);
      const due = await alpha.outbox.get("msg_due");
      assert.equal(due?.state, "delivered");
      assert.equal(due?.deliveredAt, 63_000);
      assert.deepEqual(due?.attemptLog.map((a) => a.instance), ["beta"]);
    });
  });

  await t.step("webhook outbox: concurrent claims by two instances never share a message", async () => {
    await withStores(async (open) => {
      const alpha = await open("alpha");
      const beta = await open("beta");
      for (let i = 0; i < 20; i++) await alpha.outbox.enqueue(message(`msg_${i}`, 1_000 + i));
      const rounds = await Promise.all(
        Array.from(
          { length: 6 },
          (_, i) => (i % 2 === 0 ? alpha : beta).outbox.claimDue(`i${i % 2}`, 5_000, 4, 60_000),
        ),
      );
      const ids = rounds.flat().map((m) => m.id);
      assert.equal(new Set(ids).size, ids.length, "no message claimed twice");
      assert.equal(ids.length, 20, "6 claims of 4 take all 20");
    });
  });

  await t.step(
    "webhook outbox: failures back off, then fail; redeliver sends again with the same id",
    async () => {
      await withStores(async (open) => {
        const { outbox } = await open("alpha");
        await outbox.enqueue(message("msg_f", 1_000));
        await outbox.claimDue("alpha", 1_000, 10, 60_000);
        const refused = {
          at: 1_000,
          instance: "alpha",
          status: null,
          error: "connection refused",
          durationMs: 2,
        };
        await outbox.finishAttempt("msg_f", refused, { state: "pending", nextTryAt: 6_000 });
        let d = await outbox.get("msg_f");
        assert.equal(d?.state, "pending");
        assert.equal(d?.nextTryAt, 6_000);
        assert.equal(d?.attempts, 1);
        assert.equal(d?.lastError, "connection refused");
        assert.deepEqual(
          await outbox.claimDue("alpha", 5_999, 10, 60_000),
          [],
          "not due before its next try",
        );
        assert.equal(await outbox.nextDueAt(), 6_000);
        const [again] = await outbox.claimDue("alpha", 6_000, 10, 60_000);
        assert.equal(again?.attempts, 1);
        const error500 = { at: 6_000, instance: "alpha", status: 500, error: "HTTP 500", durationMs: 3 };
        await outbox.finishAttempt("msg_f", error500, { state: "failed" });
        d = await outbox.get("msg_f");
        assert.equal(d?.state, "failed");
        assert.equal(d?.nextTryAt, null);
        assert.equal(d?.lastStatus, 500);
        assert.deepEqual(d?.attemptLog.map((a) => a.status), [null, 500]);
        assert.equal(await outbox.nextDueAt(), undefined);

        const redelivered = await outbox.redeliver("msg_f", 10_000, 20_000);
        assert.equal(redelivered?.state, "pending");
        assert.equal(redelivered?.nextTryAt, 10_000);
        assert.equal(redelivered?.expiresAt, 20_000);
        assert.equal(redelivered?.attempts, 2, "the log is kept");
        assert.deepEqual((await outbox.claimDue("alpha", 10_000, 10, 60_000)).map((m) => m.id), ["msg_f"]);
        assert.equal(await outbox.redeliver("nope", 10_000, 20_000), undefined);
      });
    },
  );

  await t.step(
    "webhook outbox: a redeliver while an instance sends the message leaves it leased, not due twice",
    async () => {
      await withStores(async (open) => {
        const alpha = await open("alpha");
        const beta = await open("beta");
        await alpha.outbox.enqueue(message("msg_l", 1_000));
        assert.deepEqual((await alpha.outbox.claimDue("alpha", 1_000, 10, 60_000)).map((m) => m.id), [
          "msg_l",
        ]);

        // alpha is sending it (its lease runs to 61 s): a redeliver now is refused and changes nothing.
        await assert.rejects(
          beta.outbox.redeliver("msg_l", 2_000, 90_000),
          (error) =>
            error instanceof WebhookBeingSentError && error.id === "msg_l" && error.leaseUntil === 61_000 &&
            error.message === 'Webhook "msg_l" is being sent now: try again when its attempt ends',
          "a redeliver mid-attempt is refused",
        );
        assert.deepEqual(await beta.outbox.claimDue("beta", 2_000, 10, 60_000), [], "not handed out again");
        assert.deepEqual(
          await alpha.outbox.claimDue("alpha", 60_999, 10, 60_000),
          [],
          "nor before its lease ends",
        );
        const leased = await alpha.outbox.get("msg_l");
        assert.equal(leased?.nextTryAt, 1_000, "unchanged");
        assert.equal(leased?.expiresAt, message("msg_l", 1_000).expiresAt, "unchanged");

        // alpha's attempt ends: it is recorded (its lease was kept), and a redeliver works again.
        const ok = { at: 1_000, instance: "alpha", status: 200, error: null, durationMs: 4_000 };
        assert.equal(await alpha.outbox.finishAttempt("msg_l", ok, { state: "delivered" }), true);
        const redelivered = await beta.outbox.redeliver("msg_l", 6_000, 90_000);
        assert.equal(redelivered?.state, "pending");
        assert.equal(redelivered?.nextTryAt, 6_000);
        assert.equal(redelivered?.expiresAt, 90_000);
        assert.deepEqual(redelivered?.attemptLog.map((a) => [a.instance, a.status]), [["alpha", 200]]);
        assert.deepEqual((await beta.outbox.claimDue("beta", 6_000, 10, 60_000)).map((m) => m.id), ["msg_l"]);

        // beta dies mid-attempt: once its lease has run out (66 s), a redeliver sends it again at once.
        await assert.rejects(alpha.outbox.redeliver("msg_l", 65_999, 90_000), WebhookBeingSentError);
        const afterLease = await alpha.outbox.redeliver("msg_l", 66_000, 150_000);
        assert.equal(afterLease?.nextTryAt, 66_000);
        assert.deepEqual((await alpha.outbox.claimDue("alpha", 66_000, 10, 60_000)).map((m) => m.id), [
          "msg_l",
        ]);
        const failed = { at: 66_000, instance: "alpha", status: 500, error: "HTTP 500", durationMs: 3 };
        assert.equal(await alpha.outbox.finishAttempt("msg_l", failed, { state: "failed" }), true);
        assert.equal((await beta.outbox.redeliver("msg_l", 70_000, 150_000))?.state, "pending", "failed");
        assert.equal(await beta.outbox.nextDueAt(), 70_000);
      });
    },
  );

  await t.step(
    "campaigns: two instances claim within the cap, never one lead twice; an attempt ends once",
    async () => {
      await withStores(async (open) => {
        const alpha = (await open("alpha")).campaigns;
        const beta = (await open("beta")).campaigns;
        const leads = Array.from({ length: 5 }, (_, i) => ({
          leadId: null,
          name: `Lead ${i}`,
          phone: `+1415555010${i}`,
          timezone: null,
          fields: {},
        }));
        const campaign = await alpha.create(
          CAMPAIGN,
          [...leads, { ...leads[0]!, skipReason: "duplicate" }],
          "running",
        );
        assert.equal(campaign.state, "running");
        assert.deepEqual(
          (await beta.get(campaign.id))?.window,
          CAMPAIGN.window,
          "the other instance reads it",
        );
        const claims = await Promise.all([
          alpha.claim(campaign.id, 1_000, 10, "alpha"),
          beta.claim(campaign.id, 1_000, 10, "beta"),
          alpha.claim(campaign.id, 1_000, 10, "alpha"),
        ]);
        const ids = claims.flat().map((lead) => lead.id);
        assert.equal(ids.length, CAMPAIGN.maxConcurrent, "the cap holds across instances");
        assert.equal(new Set(ids).size, ids.length, "no lead claimed twice");
        assert.deepEqual(await beta.claim(campaign.id, 1_000, 10, "beta"), [], "full");
        assert.equal(await alpha.nextTryAt(campaign.id), 0, "one lead is left, due from the start");

        const first = claims.flat()[0]!;
        const attempt = await alpha.startAttempt(first.id, 1_100);
        assert.equal(attempt.attempt, 1);
        await alpha.setAttemptCall(attempt.id, "CA_CAMPAIGN_1");
        assert.equal((await beta.attemptByCallSid("CA_CAMPAIGN_1"))?.id, attempt.id);
        const end = { at: 1_200, disposition: "busy" as const, detail: "" };
        const retry = { state: "pending" as const, nextTryAt: 5_000, disposition: "busy" as const };
        const ends = await Promise.all([
          alpha.finishAttempt(attempt.id, end, retry),
          beta.finishAttempt(attempt.id, end, retry),
        ]);
        assert.deepEqual(ends.sort(), [false, true], "one end wins");
        const next = await beta.claim(campaign.id, 1_300, 10, "beta");
        assert.equal(next.length, 1, "the freed slot goes to the lead that is due");
        assert.notEqual(next[0]!.id, first.id, "not the busy lead before its retry");
        await beta.settle(next[0]!.id, { state: "done", disposition: "completed" });
        const again = await beta.claim(campaign.id, 5_000, 10, "beta");
        assert.deepEqual(again.map((lead) => [lead.id, lead.attempts, lead.disposition]), [[
          first.id,
          1,
          "busy",
        ]]);

        const listed = await alpha.leads(campaign.id);
        assert.equal(listed.filter((lead) => lead.state === "skipped")[0]?.skipReason, "duplicate");
        assert.equal((await alpha.openAttempts("alpha")).length, 0, "the first attempt ended");
        const second = await beta.startAttempt(first.id, 5_100);
        assert.equal(second.attempt, 2);
        assert.deepEqual((await beta.openAttempts("beta")).map((a) => a.id), [second.id]);
        assert.equal((await alpha.setState(campaign.id, "paused", ["draft"]))?.state, "running", "guarded");
        assert.equal((await alpha.setState(campaign.id, "paused", ["running"]))?.state, "paused");
      });
    },
  );

  await t.step(
    "campaigns: callsPerSecond holds across instances; a dead claim goes back, a request stays noted",
    async () => {
      await withStores(async (open) => {
        const alpha = (await open("alpha")).campaigns;
        const beta = (await open("beta")).campaigns;
        const leads = Array.from({ length: 4 }, (_, i) => ({
          leadId: null,
          name: `Lead ${i}`,
          phone: `+1415555020${i}`,
          timezone: null,
          fields: {},
        }));
        const campaign = await alpha.create({ ...CAMPAIGN, callsPerSecond: 2 }, leads, "running");
        const claimed = await alpha.claim(campaign.id, 10_000, 4, "alpha");
        assert.equal(claimed.length, 4);
        const [a, b, c, d] = claimed.map((lead) => lead.id) as [number, number, number, number];
        // 2 a second: a burst of two, shared by both instances, then one every 500 ms.
        assert.equal(await alpha.beginDial(a, 10_000), true);
        assert.equal(await beta.beginDial(b, 10_000), true);
        assert.equal(await beta.beginDial(c, 10_000), false, "no third slot in the same instant");
        assert.equal(await alpha.beginDial(c, 10_400), false);
        assert.equal(await beta.beginDial(c, 10_500), true);
        assert.equal(await alpha.beginDial(d, 10_600), false);
        assert.equal(await alpha.beginDial(d, 11_000), true);

        // alpha dies: a never placed, b answered (an attempt open), c and d requested with no answer.
        await alpha.startAttempt(b, 10_000, "CA0000000000000000000000000000000b");
        await alpha.settle(d, { state: "pending", nextTryAt: 13_000, disposition: null, requestedAt: null });
        const byId = async () => new Map((await beta.leads(campaign.id)).map((lead) => [lead.id, lead]));
        assert.equal((await byId()).get(a)?.requestedAt, 10_000);
        assert.equal((await byId()).get(d)?.requestedAt, null, "a refused request is cleared");
        await alpha.claim(campaign.id, 13_000, 4, "alpha");
        assert.equal(await beta.releaseClaims("alpha", "beta"), 3);
        const after = await byId();
        assert.deepEqual(
          [a, b, c, d].map((id) => [after.get(id)?.state, after.get(id)?.claimedBy, after.get(id)?.attempts]),
          [["pending", null, 0], ["dialing", "beta", 1], ["pending", null, 0], ["pending", null, 0]],
        );
        assert.equal(after.get(c)?.requestedAt, 10_500, "asked about before it is dialled again");
        assert.equal(after.get(b)?.requestedAt, null, "an attempt with its CallSid clears it");
        assert.deepEqual((await beta.openAttempts("beta")).map((x) => x.callSid), [
          "CA0000000000000000000000000000000b",
        ]);
      });
    },
  );

  await t.step("webhook outbox: messages outlive the store that enqueued them", async () => {
    await withStores(async (open) => {
      const first = await open("alpha");
      await first.outbox.enqueue(message("msg_kept", 1_000));
      first.close();
      const second = await open("alpha");
      assert.deepEqual((await second.outbox.claimDue("alpha", 1_000, 10, 60_000)).map((m) => m.id), [
        "msg_kept",
      ]);
    });
  });

  await t.step("do-not-call: added once, seen by every instance, removed", async () => {
    await withStores(async (open) => {
      const alpha = (await open("alpha")).doNotCall;
      const beta = (await open("beta")).doNotCall;
      assert.equal(await alpha.add(["+14155550100", "+14155550101"], "api", 1_000), 2);
      assert.equal(await beta.add(["+14155550100"], "tool", 2_000), 0, "already there");
      assert.equal(await beta.has("+14155550101"), true);
      assert.deepEqual((await beta.list()).map((e) => [e.phone, e.source]), [
        ["+14155550100", "api"],
        ["+14155550101", "api"],
      ]);
      assert.equal(await beta.remove("+14155550101"), true);
      assert.equal(await alpha.has("+14155550101"), false);
      assert.equal(await alpha.remove("+14155550101"), false);
    });
  });
}

const CAMPAIGN: CampaignInput = {
  name: "Contract",
  persona: "alex",
  voice: undefined,
  parameters: {},
  window: { timezone: "America/New_York", days: ["mon"], start: "09:00", end: "17:00" },
  maxConcurrent: 4,
  callsPerSecond: 1,
  retry: {
    "completed": { after: 0, max: 0 },
    "no-answer": { after: 60, max: 2 },
    "busy": { after: 15, max: 3 },
    "failed": { after: 30, max: 1 },
    "voicemail_left": { after: 0, max: 0 },
    "do_not_call": { after: 0, max: 0 },
  },
  machineDetection: true,
};
