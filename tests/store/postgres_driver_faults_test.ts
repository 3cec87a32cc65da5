/**
 * Postgres dropping the store's connections over and over while it works (`pg_terminate_backend` on
 * every connection of its database, 100 times, as restarts and failovers do): the driver's own
 * failures (a write queued for a connection already closed, a query of its own that no one awaits)
 * never reach the top of the process, which would end it and every call; the events written along
 * the way all land, once each.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import type { CallEvent } from "../../src/calls/call_events.ts";
import { openPostgresStore } from "../../src/store/postgres/store.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import { within } from "../../testing/within.ts";

const SID = "CA00000000000000000000000000000f17";

function line(at: number, text: string): CallEvent {
  return { type: "transcript", at, callSid: SID, speaker: "caller", text };
}

Deno.test({
  name: "connections dropped 100 times under load never end the process; every event lands once",
  ignore: !postgresAvailable(),
  async fn() {
    const server = await startThrowawayPostgres();
    const url = await server.createDatabase();
    const database = new URL(url).pathname.slice(1);
    const reports: string[] = [];
    let recovered!: () => void;
    const writesAgain = new Promise<void>((resolve) => recovered = resolve);
    // A connection opened as its backend is terminated can hang until the connect timeout (10 s by
    // default): 2 s here, so the test is not spent waiting for it.
    const store = await openPostgresStore(`${url}?connect_timeout=2`, {
      instance: "alpha",
      maxConnections: 4,
      onError: (message) => {
        reports.push(message);
        if (/writes again to Postgres/.test(message)) recovered();
      },
    });
    const admin = postgres(server.url, { max: 1, onnotice: () => {} });
    let stop = false;
    let written = 0;
    try {
      store.calls.listener({
        type: "call.started",
        at: 1,
        callSid: SID,
        streamSid: "MZ1",
        persona: "tester",
        model: "gpt-realtime-2.1",
        parameters: {},
      });
      // Events, reads and outbox polls all the while, as a live server makes them.
      const load = (async () => {
        while (!stop) {
          store.calls.listener(line(10 + written, `line ${written}`));
          written++;
          await Promise.allSettled([
            store.calls.getCall(SID),
            store.calls.listCalls({ limit: 5 }),
            store.outbox.claimDue("alpha", Date.now(), 10, 60_000),
            store.outbox.list({ limit: 5 }),
          ]);
        }
      })();
      for (let i = 0; i < 100; i++) {
        await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${database}`;
        await new Promise((resolve) => setTimeout(resolve, 5 + (i % 7)));
      }
      stop = true;
      await within(load, "the load to stop", 30_000);
      // A write that failed along the way is retried (every second) until Postgres takes it.
      if (store.calls.health().failing) await within(writesAgain, "the store writing again", 15_000);
      const record = await store.calls.getCall(SID);
      assert.equal(store.calls.health().pendingEvents, 0, reports.join("\n"));
      assert.deepEqual(
        record?.transcript.map((l) => l.text),
        Array.from({ length: written }, (_, i) => `line ${i}`),
        "every event once, in order",
      );
    } finally {
      stop = true;
      store.close();
      await store.closed;
      await admin.end();
      await server.stop();
    }
  },
});
