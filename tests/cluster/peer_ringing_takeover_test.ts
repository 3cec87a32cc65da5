/**
 * A crashed instance's calls that were still ringing: the live peer that sweeps it takes them over
 * (their records name it, still open) instead of closing them `server_crashed`, and hands them to its
 * listener to follow; the crashed instance's running calls, and ringing ones placed longer ago than
 * Twilio's longest ring, are closed as before.
 */

import assert from "node:assert/strict";
import type { CallEvent } from "../../src/calls/call_events.ts";
import type { RingingRecord } from "../../src/store/ports.ts";
import postgres from "postgres";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres/store.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";

const ignore = !postgresAvailable();
const RINGING = "CA000000000000000000000000000c0101";
const RUNNING = "CA000000000000000000000000000c0102";
const LONG_AGO = "CA000000000000000000000000000c0103";
const RINGING_LATER = "CA000000000000000000000000000c0104";

function placed(callSid: string, at: number): CallEvent {
  return {
    type: "call.placed",
    at,
    callSid,
    persona: "tester",
    from: "+14155550199",
    to: "+14155550123",
    parameters: { lead: "Dana" },
  };
}

Deno.test({
  name: "a peer takes over a crashed instance's ringing calls instead of closing them",
  ignore,
  async fn() {
    const server = await startThrowawayPostgres();
    const url = await server.createDatabase();
    const reports: string[] = [];
    const open = (instance: string) =>
      openPostgresStore(url, {
        instance,
        maxConnections: 3,
        instanceTimeoutMs: 300,
        onError: (message) => reports.push(message),
      });
    const stores: PostgresStore[] = [];
    try {
      const crashed = await open("crashed");
      const beta = await open("beta");
      stores.push(crashed, beta);
      const now = Date.now();
      await crashed.calls.record(placed(RINGING, now - 1_000));
      await crashed.calls.record(placed(RUNNING, now - 2_000));
      await crashed.calls.record({
        type: "call.started",
        at: now - 1_500,
        callSid: RUNNING,
        streamSid: "MZ1",
        persona: "tester",
        model: "gpt-realtime-2.1",
        parameters: {},
      });
      await crashed.calls.record(placed(LONG_AGO, now - 700_000));

      // The process dies: no more beats, no clean stop; the peer sweeps once the timeout has passed.
      await crashed.heartbeat.close(false);
      await beta.heartbeat.close(false); // its own timer stops: the sweep below is the only one
      let swept: { instance: string; callSids: string[] }[] = [];
      // The timeout is counted by the database's clock: sweep until it has passed (at most 10 s).
      const giveUpAt = Date.now() + 10_000;
      while (swept.length === 0) {
        assert.ok(Date.now() < giveUpAt, "the peer never swept the crashed instance");
        await new Promise((resolve) => setTimeout(resolve, 100));
        swept = await beta.heartbeat.sweep();
      }
      assert.deepEqual(swept, [{ instance: "crashed", callSids: [RUNNING, LONG_AGO].toSorted() }]);

      const ringing = await beta.calls.getCall(RINGING);
      assert.equal(ringing?.endedAt, null, "the ringing call stays open");
      assert.equal(ringing?.instance, "beta", "now followed by the peer");
      assert.equal((await beta.calls.getCall(RUNNING))?.endReason, "server_crashed");
      assert.equal((await beta.calls.getCall(LONG_AGO))?.endReason, "server_crashed");
      const line = reports.find((m) => /Instance crashed stopped beating/.test(m)) ?? "";
      assert.match(line, new RegExp(`took up 1 ringing call\\(s\\) it placed \\(${RINGING}\\)`));

      // Taken over before anyone listened: handed over once a listener is set.
      const handed: RingingRecord[] = [];
      beta.heartbeat.onPeerRingingTakenUp((records) => handed.push(...records));
      assert.deepEqual(handed, [{
        callSid: RINGING,
        persona: "tester",
        placedAt: now - 1_000,
        webhookAt: null,
      }]);
      // The peer's own start-up take-up would find it too (it names the peer now).
      assert.deepEqual((await beta.calls.takeUpRingingRecords(now - 600_000)).map((r) => r.callSid), [
        RINGING,
      ]);

      // A draining peer sweeps no dead instance: it leaves it, ringing calls and all, to a live one.
      const later = await open("crashed-later");
      const gamma = await open("gamma");
      stores.push(later, gamma);
      await later.calls.record(placed(RINGING_LATER, Date.now() - 1_000));
      await later.heartbeat.close(false);
      await gamma.heartbeat.close(false); // its timer stops: only the sweeps below run
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        // Dead for a minute already: any sweep that looks may claim it.
        await sql`UPDATE instances SET beat_at = beat_at - 60000 WHERE instance = 'crashed-later'`;
      } finally {
        await sql.end();
      }
      beta.heartbeat.stopSweeping();
      assert.deepEqual(await beta.heartbeat.sweep(), [], "the draining peer leaves it");
      assert.equal((await beta.calls.getCall(RINGING_LATER))?.endedAt, null);
      // (beta's own beats stopped above, so gamma claims it too.)
      const sweptByGamma = await gamma.heartbeat.sweep();
      assert.deepEqual(sweptByGamma.find((s) => s.instance === "crashed-later"), {
        instance: "crashed-later",
        callSids: [],
      });
      const taken = await gamma.calls.getCall(RINGING_LATER);
      assert.equal(taken?.endedAt, null, "still ringing");
      assert.equal(taken?.instance, "gamma", "followed by the live peer");
      assert.equal(handed.length, 1, "nothing more handed to the draining peer");
    } finally {
      for (const store of stores) store.close();
      await Promise.all(stores.map((store) => store.closed));
      await server.stop();
    }
  },
});
