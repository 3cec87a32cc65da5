/**
 * `main.ts` on Postgres, as a subprocess with the start task's exact permissions: DATABASE_URL
 * selects the shared database (records land there, a second instance reads them), and a database it
 * cannot reach stops it with one line naming DATABASE_URL and the host, never the password.
 */

import assert from "node:assert/strict";
import { FakeRealtimeServer, toneBytes } from "../fakes/fake_realtime.ts";
import {
  listeningPort,
  placeTwilioCall,
  reap,
  spawnParley,
  TEST_PERSONAS_DIR,
} from "../fakes/parley_process.ts";
import { openPostgresStore } from "../../src/store/postgres/store.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";

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
  name: "main.ts with DATABASE_URL keeps its records in Postgres, under the start task's permissions",
  ignore,
  async fn() {
    const server = await startThrowawayPostgres();
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
      await server.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test("main.ts names DATABASE_URL and its host, never the password, when Postgres cannot be reached", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // nothing listens there now
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
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
