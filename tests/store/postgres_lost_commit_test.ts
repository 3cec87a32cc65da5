/**
 * A batch of call events whose COMMIT went through but whose answer was lost (the connection cut
 * between the two, as a failover or a restart can do): the store cannot tell it was written and
 * writes it again. Written again, it must not be stored twice: each event lands once, numbered once.
 * And the store still closes at once: the lost connection holds nothing it must wait for.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import type { CallEvent } from "../../src/calls/call_events.ts";
import { openPostgresStore } from "../../src/store/postgres/store.ts";
import { startLostCommitProxy } from "../../testing/lost_commit_proxy.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import { within } from "../../testing/within.ts";

const SID = "CA00000000000000000000000000000c07";

function started(at: number): CallEvent {
  return {
    type: "call.started",
    at,
    callSid: SID,
    streamSid: "MZ1",
    persona: "tester",
    model: "gpt-realtime-2.1",
    parameters: {},
  };
}

function line(at: number, text: string): CallEvent {
  return { type: "transcript", at, callSid: SID, speaker: "caller", text };
}

Deno.test({
  name: "events whose COMMIT's answer was lost are written again, and stored once",
  ignore: !postgresAvailable(),
  async fn() {
    const server = await startThrowawayPostgres();
    const url = await server.createDatabase();
    const proxy = startLostCommitProxy(Number(new URL(url).port));
    const viaProxy = new URL(url);
    viaProxy.port = String(proxy.port);
    let recovered!: () => void;
    const writesAgain = new Promise<void>((resolve) => recovered = resolve);
    const store = await openPostgresStore(viaProxy.toString(), {
      instance: "alpha",
      onError: (message) => {
        if (/writes again to Postgres/.test(message)) recovered();
      },
    });
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      store.calls.listener(started(1_000));
      assert.equal((await store.calls.getCall(SID))?.persona, "tester");

      const lost = proxy.arm();
      store.calls.listener(line(1_100, "said once"));
      store.calls.listener(line(1_200, "and once more"));
      await within(lost, "the COMMIT's answer lost");
      await within(writesAgain, "the batch written again", 10_000);
      const record = await store.calls.getCall(SID);
      assert.deepEqual(record?.transcript.map((l) => l.text), ["said once", "and once more"]);
      const rows = await sql<{ seq: string; text: string | null }[]>`
        SELECT seq, event->>'text' AS text FROM call_events WHERE call_sid = ${SID} ORDER BY seq`;
      assert.deepEqual(rows.map((r) => [Number(r.seq), r.text]), [
        [1, null],
        [2, "said once"],
        [3, "and once more"],
      ]);
      assert.equal(record?.eventSeq, 3);
      assert.deepEqual(store.calls.health(), { pendingEvents: 0, droppedEvents: 0, failing: false });

      // The driver keeps the statement the lost connection was running as that connection's own and
      // its end() waits for it forever (porsager/postgres#1130): closing must not wait out its 5 s.
      store.close();
      await within(store.closed, "the store closed, with nothing left running", 3_000);
    } finally {
      store.close();
      await store.closed;
      await sql.end();
      await proxy.close();
      await server.stop();
    }
  },
});
