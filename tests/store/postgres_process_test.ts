/**
 * `main.ts` on Postgres, as a subprocess with the start task's exact permissions: DATABASE_URL
 * selects the shared database (records land there, a second instance reads them), and a database it
 * cannot reach stops it with one line naming DATABASE_URL and the host, never the password.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import { FakeRealtimeServer, toneBytes } from "../../testing/fake_realtime.ts";
import {
  listeningPort,
  placeTwilioCall,
  reap,
  spawnParley,
  TEST_PERSONAS_DIR,
} from "../../testing/parley_process.ts";
import { openPostgresStore } from "../../src/store/postgres/store.ts";
import { postgresAvailable, startThrowawayPostgres, type ThrowawayPostgres } from "../../testing/postgres.ts";
import { readFrames } from "../../testing/sse_frames.ts";
import { releasePort, unsharedPort } from "../../testing/unshared_port.ts";

const ignore = !postgresAvailable();
const API_TOKEN = "pg-api-token-0123456789";
const AUTH_TOKEN = "pg-auth-token-0123456789";

function env(databaseUrl: string, upstreamUrl: string, dataDir: string): Record<string, string> {
  return {
    PORT: "0",
    PUBLIC_BASE_URL: "https://parley.test/",
    OPENAI_API_KEY: "sk-pg-test-key-0123456789",
    OPENAI_REALTIME_URL: upstreamUrl,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    API_TOKEN,
    PERSONAS_DIR: TEST_PERSONAS_DIR,
    DEFAULT_PERSONA: "tester",
    INBOUND_PERSONA: "quiet",
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
  };
}

Deno.test({
  name: "main.ts on Postgres (one throwaway server for the steps)",
  ignore,
  async fn(t) {
    const server = await startThrowawayPostgres();
    try {
      await t.step(
        "with DATABASE_URL it keeps its records in Postgres, under the start task's permissions",
        () => recordsInPostgres(server),
      );
      await t.step(
        "two on one DATABASE_URL: a call relayed by one is heard live in the other's event feed",
        () => feedAcrossInstances(server),
      );
    } finally {
      await server.stop();
    }
  },
});

async function recordsInPostgres(server: ThrowawayPostgres): Promise<void> {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  try {
    const url = await server.createDatabase();
    const parley = await spawnParley("start", env(url, upstream.url, dataDir));
    try {
      const port = await listeningPort(parley);
      const banner = await parley.stdout.waitFor(/Call records:/);
      assert.match(banner, /Postgres at 127\.0\.0\.1:\d+\/parley_test/);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.deepEqual(await health.json(), { status: "ok", activeCalls: 0 });

      const call = await placeTwilioCall({
        port,
        authToken: AUTH_TOKEN,
        publicBaseUrl: "https://parley.test",
      }, {
        persona: "tester",
        lead: "Dana",
      });
      call.start({ persona: "tester", lead: "Dana" });
      const session = await upstream.session(0);
      await session.waitFor("response.create");
      await session.streamResponse({ responseId: "r1", itemId: "i1", audio: toneBytes(200, 7) });
      await call.waitFor("media");
      call.stop();
      await session.closed;
      await parley.stdout.waitFor(/Call ended: CallSid=.* reason=caller_hung_up/);
      parley.child.kill("SIGTERM");
      assert.equal((await parley.child.status).code, 0);
      const { stderr } = await parley.finished();
      assert.ok(!/NotCapable|Requires .* access/.test(stderr), stderr);
      // Nothing in DATA_DIR: the records are in Postgres, where another instance reads them.
      assert.deepEqual([...Deno.readDirSync(dataDir)], []);
      const peer = await openPostgresStore(url, { instance: "peer" });
      try {
        const record = await peer.calls.getCall(call.callSid);
        assert.equal(record?.endReason, "caller_hung_up");
        assert.equal(record?.persona, "tester");
        assert.match(record?.instance ?? "", /-[0-9a-f]{8}$/, "host name plus a random suffix");
      } finally {
        peer.close();
        await peer.closed;
      }
    } finally {
      await reap(parley);
    }
  } finally {
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

async function feedAcrossInstances(server: ThrowawayPostgres): Promise<void> {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const abort = new AbortController();
  try {
    const url = await server.createDatabase();
    const [a, b] = await Promise.all([
      spawnParley("start", env(url, upstream.url, dataDir)),
      spawnParley("start", env(url, upstream.url, dataDir)),
    ]);
    try {
      const [portA, portB] = await Promise.all([listeningPort(a!), listeningPort(b!)]);
      const auth = { authorization: `Bearer ${API_TOKEN}` };
      const call = await placeTwilioCall({
        port: portA,
        authToken: AUTH_TOKEN,
        publicBaseUrl: "https://parley.test",
      }, {
        persona: "tester",
        lead: "Dana",
      });
      call.start({ persona: "tester", lead: "Dana" });
      const session = await upstream.session(0);
      await session.waitFor("response.create");
      // A's read waits for its queued writes: from here the record is in Postgres.
      assert.equal(
        (await fetch(`http://127.0.0.1:${portA}/api/calls/${call.callSid}`, { headers: auth })).status,
        200,
      );
      const feed = await fetch(`http://127.0.0.1:${portB}/api/calls/${call.callSid}/events`, {
        headers: auth,
        signal: abort.signal,
      });
      assert.equal(feed.status, 200);
      const frames = readFrames(feed.body!);
      const snapshot = await frames.next();
      assert.equal(snapshot.value?.event, "snapshot");
      const record = JSON.parse(snapshot.value!.data);
      assert.notEqual(record.instance, null);
      assert.equal(record.endedAt, null, "live when the feed opened");

      await session.streamResponse({ responseId: "r1", itemId: "i1", audio: toneBytes(200, 7) });
      await call.waitFor("media");
      call.stop();
      await session.closed;
      const heard: string[] = [];
      // A feed that hears nothing would wait forever: give up (and fail) after 30 s.
      const guard = setTimeout(() => abort.abort(), 30_000);
      try {
        for await (const frame of frames) heard.push(frame.event);
      } catch (error) {
        if (!abort.signal.aborted) throw error;
      } finally {
        clearTimeout(guard);
      }
      assert.equal(heard.at(-1), "call.ended", heard.join(", "));
      // Exactly the events stored after the snapshot's position, in order: no gap, no repeat.
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const stored = await sql<{ type: string }[]>`
            SELECT event->>'type' AS type FROM call_events WHERE call_sid = ${call.callSid}
              AND seq > ${record.eventSeq} AND seq <= (SELECT MIN(seq) FROM call_events
                WHERE call_sid = ${call.callSid} AND event->>'type' = 'call.ended')
            ORDER BY seq`;
        assert.deepEqual(heard, stored.map((row) => row.type));
      } finally {
        await sql.end();
      }
    } finally {
      abort.abort();
      await Promise.all([reap(a!), reap(b!)]);
    }
  } finally {
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test("main.ts names DATABASE_URL and its host, never the password, when Postgres cannot be reached", async () => {
  const port = unsharedPort(); // nothing listens there, and no other test's server can be given it
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  try {
    const parley = await spawnParley(
      "start",
      env(`postgres://parley:hunter2-secret@127.0.0.1:${port}/parley`, upstream.url, dataDir),
    );
    const { code, stderr } = await parley.finished();
    assert.equal(code, 1);
    assert.match(
      stderr,
      new RegExp(`DATABASE_URL: cannot open the Postgres database at 127\\.0\\.0\\.1:${port}/parley`),
    );
    assert.ok(!stderr.includes("hunter2-secret"), stderr);
    assert.ok(!/NotCapable|Requires .* access|\n {4}at /.test(stderr), stderr);
  } finally {
    releasePort(port);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
