/**
 * Postgres restarted mid-call under the real process (`pg_ctl stop -m fast`, which cuts every
 * session, then start on the same port): the call goes on both ways while the database is down and
 * ends there; the events of the outage land once it is back, each stored once, and the call.ended
 * webhook of the call that ended meanwhile is sent, built from the complete record.
 */

import { callGoesOnBothWays } from "../../testing/both_ways.ts";
import assert from "node:assert/strict";
import postgres from "postgres";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import {
  greetedProcessCall,
  listeningPort,
  type ParleyProcess,
  processEnv,
  reap,
  spawnParley,
} from "../../testing/parley_process.ts";
import { openPostgresStore } from "../../src/store/postgres/store.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import { startWebhookReceiver } from "../../testing/webhook_receiver.ts";
import { within } from "../../testing/within.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwC8ZbS0Ua4nA=";

/** `waiting`, or a failure naming how the process ended if it ends first. */
function whileAlive<T>(parley: ParleyProcess, waiting: Promise<T>): Promise<T> {
  return Promise.race([
    waiting,
    parley.child.status.then((status) => {
      throw new Error(`Parley exited (${status.signal ?? status.code}):\n${parley.stderr.lines.join("\n")}`);
    }),
  ]);
}

Deno.test({
  name:
    "Postgres restarted mid-call: the call goes on, its events land once each, its call.ended webhook is sent",
  ignore: !postgresAvailable() || (Deno.env.get("PARLEY_TEST_DATABASE_URL") ?? "") !== "",
  async fn() {
    const server = await startThrowawayPostgres();
    const upstream = FakeRealtimeServer.start();
    const receiver = await startWebhookReceiver(SECRET);
    const dataDir = await Deno.makeTempDir({ prefix: "parley_pg_restart_" });
    let parley: ParleyProcess | undefined;
    try {
      const url = await server.createDatabase();
      parley = await spawnParley(
        "start",
        processEnv({ upstreamUrl: upstream.url, dataDir }, {
          DATABASE_URL: url,
          WEBHOOK_URL: receiver.url,
          WEBHOOK_SECRET: SECRET,
        }),
      );
      const p = parley;
      const port = await listeningPort(p);
      const { call, session } = await greetedProcessCall(port, upstream);
      await within(
        receiver.waitFor((r) => r.some((w) => w.body.type === "call.started")),
        "call.started sent",
      );

      await server.restart!(async () => {
        session.send({
          type: "conversation.item.input_audio_transcription.completed",
          item_id: "u1",
          transcript: "Hi",
        });
        await within(
          whileAlive(p, p.stderr.waitFor(/Call store cannot write to Postgres/)),
          "the store's report",
        );
        // The call goes on both ways while the database is down.
        await callGoesOnBothWays(call, session, { transcript: "Still here", when: "while down" });
        // It ends while the database is down: its call.ended webhook waits for the store.
        call.stop();
        await within(whileAlive(p, p.stdout.waitFor(/Call ended: .*reason=caller_hung_up/)), "the end");
        await within(whileAlive(p, p.stderr.waitFor(/Webhooks: cannot enqueue call\.ended/)), "the wait");
      });
      await within(
        whileAlive(p, p.stderr.waitFor(/Call store writes again to Postgres/)),
        "writes again",
        15_000,
      );

      // Read by another instance's store: the record in Postgres, as every instance sees it.
      const peer = await openPostgresStore(url, { instance: "peer" });
      try {
        const record = await peer.calls.getCall(call.callSid);
        assert.deepEqual(record?.transcript.map((l) => l.text), ["Hello", "Hi", "Still here"]);
        assert.equal(record?.endReason, "caller_hung_up");
      } finally {
        peer.close();
        await peer.closed;
      }
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const rows = await sql<{ type: string; n: number }[]>`
          SELECT event->>'type' AS type, COUNT(*)::int AS n FROM call_events
          WHERE call_sid = ${call.callSid} AND event->>'type' IN ('transcript', 'call.started', 'call.ended')
          GROUP BY 1 ORDER BY 1`;
        assert.deepEqual(rows.map((r) => [r.type, r.n]), [["call.ended", 1], ["call.started", 1], [
          "transcript",
          3,
        ]]);
        const seqs = await sql<{ seq: string }[]>`
          SELECT seq FROM call_events WHERE call_sid = ${call.callSid} ORDER BY seq`;
        assert.deepEqual(seqs.map((r) => Number(r.seq)), seqs.map((_, i) => i + 1), "numbered without gaps");
      } finally {
        await sql.end();
      }
      await within(
        receiver.waitFor((r) => r.some((w) => w.body.type === "call.ended" && w.answered === 200)),
        "call.ended sent after the restart",
        20_000,
      );
      const ended = receiver.received.find((w) => w.body.type === "call.ended")!;
      assert.equal(ended.body.data.endReason, "caller_hung_up");
      assert.equal(ended.id, `msg_call_ended_${call.callSid}`);
      assert.deepEqual(receiver.rejected, []);
      p.child.kill("SIGTERM");
      assert.equal((await within(p.child.status, "the exit", 15_000)).code, 0);
    } finally {
      if (parley !== undefined) await reap(parley);
      await receiver.close();
      await upstream.close();
      await server.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
