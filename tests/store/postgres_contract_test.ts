import assert from "node:assert/strict";
import postgres from "postgres";
import type { CallEvent } from "../../src/calls/call_events.ts";
import { PostgresEventBus } from "../../src/store/postgres/event_bus.ts";
import { PG_SCHEMA_VERSION } from "../../src/store/postgres/schema.ts";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres/store.ts";
import { postgresAvailable, startThrowawayPostgres, type ThrowawayPostgres } from "../../testing/postgres.ts";
import { runStoreContract, type StoreFactory } from "./_contract.ts";

const ignore = !postgresAvailable();
const SID = "CA00000000000000000000000000000d01";

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

/** `promise`, or a failure naming `what` after 10 s (so a broken feed fails instead of hanging). */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after 10 s waiting for ${what}`)), 10_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Stores over one fresh database on the file's throwaway server. */
function postgresFactory(server: ThrowawayPostgres): () => StoreFactory {
  return () => {
    const url = server.createDatabase();
    const opened: PostgresStore[] = [];
    return {
      async open(instance) {
        const store = await openPostgresStore(await url, { instance, maxConnections: 4 });
        opened.push(store);
        return store;
      },
      bus: (store) => (store as PostgresStore).bus,
      settle: (bus) => (bus as PostgresEventBus).sync(),
      async dispose() {
        await Promise.all(opened.map((store) => store.closed));
      },
    };
  };
}

/** Runs `body` with one throwaway server (started once per test, shared by its steps). */
async function withServer(body: (server: ThrowawayPostgres) => Promise<void>): Promise<void> {
  const server = await startThrowawayPostgres();
  try {
    await body(server);
  } finally {
    await server.stop();
  }
}

/** Opens `n` stores of distinct instances on a fresh database; closes them after `body`. */
async function withStores(
  server: ThrowawayPostgres,
  instances: string[],
  body: (stores: PostgresStore[], url: string) => Promise<void>,
): Promise<void> {
  const url = await server.createDatabase();
  const stores = await Promise.all(
    instances.map((instance) => openPostgresStore(url, { instance, maxConnections: 4 })),
  );
  try {
    await body(stores, url);
  } finally {
    for (const store of stores) store.close();
    await Promise.all(stores.map((store) => store.closed));
  }
}

Deno.test({
  name: "Postgres: the store keeps the storage contract, and the cluster-specific guarantees",
  ignore,
  async fn(t) {
    await withServer(async (server) => {
      await t.step("contract", (t) => runStoreContract(t, postgresFactory(server)));

      await t.step("migrations: three instances starting at once make one schema", async () => {
        const url = await server.createDatabase();
        const stores = await Promise.all(
          ["a", "b", "c"].map((instance) => openPostgresStore(url, { instance, maxConnections: 2 })),
        );
        for (const store of stores) store.close();
        await Promise.all(stores.map((store) => store.closed));
        const sql = postgres(url, { max: 1, onnotice: () => {} });
        try {
          const versions = await sql<{ version: number }[]>`SELECT version FROM schema_version`;
          assert.deepEqual(versions.map((row) => row.version), [PG_SCHEMA_VERSION], "one version row");
        } finally {
          await sql.end();
        }
      });

      await t.step(
        "bus: an event written by one instance reaches another's feed through NOTIFY",
        async () => {
          await withStores(server, ["alpha", "beta"], async ([alpha, beta]) => {
            const offStore = alpha!.bus.subscribe(alpha!.calls.listener);
            const heard: [number | undefined, string][] = [];
            let arrived: () => void;
            const third = new Promise<void>((resolve) => arrived = resolve);
            const off = beta!.bus.subscribe((event, seq) => {
              heard.push([seq, event.type === "transcript" ? event.text : event.type]);
              if (heard.length === 3) arrived();
            }, { callSid: SID, after: 0 });
            await within(beta!.bus.sync(), "beta's bus to catch up (1)");
            alpha!.bus.publish(started(SID, 1_000));
            alpha!.bus.publish(line(SID, 1_100, "one"));
            alpha!.bus.publish(line(SID, 1_200, "two"));
            await within(third, "the third event on beta's feed");
            off();
            offStore();
            assert.deepEqual(heard, [[1, "call.started"], [2, "one"], [3, "two"]]);
          });
        },
      );

      await t.step(
        "bus: a feed catches up after its LISTEN connection drops, missing and repeating nothing",
        async () => {
          await withStores(server, ["alpha", "beta"], async ([alpha, beta], url) => {
            const heard: number[] = [];
            const off = beta!.bus.subscribe((_event, seq) => heard.push(seq!), { callSid: SID, after: 0 });
            await alpha!.calls.record(started(SID, 1_000));
            await within(beta!.bus.sync(), "beta's bus to catch up (2)");
            assert.deepEqual(heard, [1]);
            const database = new URL(url).pathname.slice(1);
            // On the maintenance database: refuse new connections to the test database, then drop its
            // LISTEN connections, so beta cannot listen again until connections are allowed.
            const admin = postgres(server.url, { max: 1, onnotice: () => {} });
            try {
              await admin.unsafe(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`);
              const killed = await admin<{ pid: number }[]>`
              SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity
              WHERE datname = ${database} AND query ILIKE 'listen%'`;
              assert.ok(killed.length >= 2, `the LISTEN connections were dropped (${killed.length})`);
              // Written over alpha's open connection while beta listens to nothing: no notification reaches it.
              await alpha!.calls.record(line(SID, 1_100, "while down 1"));
              await alpha!.calls.record(line(SID, 1_200, "while down 2"));
              assert.deepEqual(heard, [1], "nothing heard while down");
              const back = beta!.bus.nextListen();
              await admin.unsafe(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`);
              await within(back, "beta to LISTEN again");
            } finally {
              await admin.end();
            }
            await beta!.bus.idle();
            assert.deepEqual(heard, [1, 2, 3], "caught up on reconnect, before any new event");
            await alpha!.calls.record(line(SID, 1_300, "after the reconnect"));
            await within(beta!.bus.sync(), "beta's bus to catch up (3)");
            off();
            assert.deepEqual(heard, [1, 2, 3, 4]);
          });
        },
      );

      await t.step(
        "writes: while Postgres refuses connections, events wait in memory; they land once it is back",
        async () => {
          const url = await server.createDatabase();
          const database = new URL(url).pathname.slice(1);
          const reports: string[] = [];
          let waiting: { match: RegExp; resolve: () => void } | undefined;
          const reported = (match: RegExp) =>
            reports.some((r) => match.test(r))
              ? Promise.resolve()
              : new Promise<void>((resolve) => waiting = { match, resolve });
          const store = await openPostgresStore(url, {
            instance: "alpha",
            maxConnections: 2,
            onError: (message) => {
              reports.push(message);
              if (waiting?.match.test(message)) waiting.resolve();
            },
          });
          const admin = postgres(server.url, { max: 1, onnotice: () => {} });
          try {
            await admin.unsafe(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`);
            await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${database}`;
            store.calls.listener(started(SID, 1_000));
            store.calls.listener(line(SID, 1_100, "kept in memory"));
            await within(
              reported(/cannot write to Postgres: .*keeping 2 event\(s\) in memory/),
              "the failure report",
            );
            assert.equal(store.calls.health().failing, true);
            assert.equal(store.calls.health().pendingEvents, 2);
            await admin.unsafe(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`);
            await within(reported(/writes again to Postgres/), "the recovery report");
            const record = await store.calls.getCall(SID);
            assert.deepEqual(record?.transcript.map((l) => l.text), ["kept in memory"]);
            assert.deepEqual(store.calls.health(), { pendingEvents: 0, droppedEvents: 0, failing: false });
          } finally {
            await admin.unsafe(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`);
            await admin.end();
            store.close();
            await store.closed;
          }
        },
      );

      await t.step("stream tokens: claims racing from two instances, exactly one wins", async () => {
        await withStores(server, ["alpha", "beta"], async ([alpha, beta]) => {
          for (let round = 0; round < 20; round++) {
            const token = `token-${round}`;
            const claims = await Promise.all([
              alpha!.usedStreamTokens.claim(token, 60_000, 1_000),
              beta!.usedStreamTokens.claim(token, 60_000, 1_000),
              alpha!.usedStreamTokens.claim(token, 60_000, 1_000),
              beta!.usedStreamTokens.claim(token, 60_000, 1_000),
            ]);
            assert.equal(claims.filter(Boolean).length, 1, `round ${round}: ${claims}`);
          }
        });
      });

      await t.step("sign-in: a session started on one instance is live on another", async () => {
        await withStores(server, ["alpha", "beta"], async ([alpha, beta]) => {
          await alpha!.sessions.create("s1", 9_000, 1_000);
          assert.equal(await beta!.sessions.isLive("s1", 2_000), true);
          await beta!.sessions.end("s1");
          assert.equal(await alpha!.sessions.isLive("s1", 2_000), false);
        });
      });
    });
  },
});
