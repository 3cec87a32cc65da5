/**
 * A call placed on A (`POST /api/calls`) whose voice webhook and media stream both land on B, two
 * Parleys on one Postgres: B tells A it took the call, so A frees the call's slot and stops waiting
 * for its stream; A's shutdown (a rolling deploy) does not end the call B runs.
 */

import assert from "node:assert/strict";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres/store.ts";
import { type FakeTwilioRest, startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";
import { startTestParley, TEST_AUTH_TOKEN, type TestParley } from "../../testing/parley_harness.ts";
import { postgresAvailable, startThrowawayPostgres, type ThrowawayPostgres } from "../../testing/postgres.ts";
import type { FakeTwilioCall } from "../../testing/fake_twilio.ts";
import { within } from "../../testing/within.ts";

const ignore = !postgresAvailable();
const API_TOKEN = "placed-elsewhere-token-0123456789";
const ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);

interface Pair {
  a: TestParley;
  b: TestParley;
  storeB: PostgresStore;
  rest: FakeTwilioRest;
  /** Stops A now (a rolling deploy) and closes its store; the end of the test then leaves it alone. */
  stopA(): Promise<void>;
}

/** A and B on a fresh database of `server`, both placing calls through one fake Twilio REST API. */
async function withPair(
  server: ThrowawayPostgres,
  env: Record<string, string>,
  body: (pair: Pair) => Promise<void>,
) {
  const url = await server.createDatabase();
  const rest = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  const storeA = await openPostgresStore(url, { instance: "alpha", maxConnections: 4 });
  const storeB = await openPostgresStore(url, { instance: "beta", maxConnections: 4 });
  const options = {
    env: {
      API_TOKEN,
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_PHONE_NUMBER: "+14155550199",
      TWILIO_API_BASE_URL: rest.baseUrl,
      ...env,
    },
    prewarmTtlMs: 60_000,
  };
  const a = await startTestParley({ ...options, shared: storeA });
  const b = await startTestParley({ ...options, shared: storeB });
  let aStopped = false;
  // As a process exiting: A stops, then its store writes what it still holds.
  const stopA = async () => {
    aStopped = true;
    await a.close();
    storeA.close();
    await storeA.closed;
  };
  try {
    await body({ a, b, storeB, rest, stopA });
  } finally {
    if (!aStopped) await stopA();
    await b.close();
    storeB.close();
    await storeB.closed;
    await rest.shutdown();
  }
}

function placeCall(t: TestParley, to: string): Promise<Response> {
  return fetch(`${t.origin}/api/calls`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ to, persona: "tester" }),
  });
}

/** Places a call on A; Twilio fetches its webhook from B and opens its stream there. */
async function placedOnARunOnB({ a, b, storeB, rest }: Pair): Promise<FakeTwilioCall> {
  const placed = await placeCall(a, "+14155550123");
  const { callSid } = await placed.json();
  assert.equal(placed.status, 201);
  const voiceUrl = new URL(rest.requests.findLast((r) => r.path.endsWith("/Calls.json"))!.form.get("Url")!);
  const webhook = await b.postTwilio(`${voiceUrl.pathname}${voiceUrl.search}`, {
    CallSid: callSid,
    AccountSid: ACCOUNT_SID,
    Direction: "outbound-api",
  });
  const streamUrl = (await webhook.text()).match(/<Stream url="([^"]+)"/)?.[1];
  assert.ok(streamUrl, "B answers with a stream");
  const call = await b.connectStream(streamUrl, callSid);
  call.start();
  await within(b.waitForEvent("call.started"), "the call to start on B");
  await storeB.calls.flush();
  return call;
}

Deno.test({
  name: "several instances on Postgres: a call placed on A runs on B",
  ignore,
  async fn(t) {
    const server = await startThrowawayPostgres();
    try {
      await t.step("A's slot is free once B took the call (MAX_CONCURRENT_CALLS=1)", async () => {
        await withPair(server, { MAX_CONCURRENT_CALLS: "1" }, async (pair) => {
          const call = await placedOnARunOnB(pair);
          const admitted = async () => {
            for (;;) {
              const again = await placeCall(pair.a, "+14155550124");
              await again.body?.cancel();
              if (again.status === 201) return;
              assert.equal(again.status, 503);
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
          };
          await within(admitted(), "A to admit a new call: its one call runs on B", 5_000);
          call.stop();
          await within(pair.b.waitForEvent("call.ended"), "the call to end on B");
        });
      });

      await t.step("A stops (a rolling deploy): the call B runs ends with B's reason", async () => {
        await withPair(server, {}, async (pair) => {
          const call = await placedOnARunOnB(pair);
          await within(pair.a.parley.drain(), "A's drain: it runs no call", 5_000);
          await pair.stopA();
          assert.equal(call.open, true, "the call goes on on B");
          call.stop();
          const ended = await within(pair.b.waitForEvent("call.ended"), "the call to end on B");
          await pair.storeB.calls.flush();
          const record = await pair.storeB.calls.getCall(call.callSid);
          assert.notEqual(record?.endReason, "server_shutdown");
          assert.equal(record?.endReason, ended.reason);
          assert.deepEqual(
            pair.a.events.filter((event) => event.type === "call.ended"),
            [],
            "A ended nothing",
          );
        });
      });
    } finally {
      await server.stop();
    }
  },
});
