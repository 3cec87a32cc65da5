/**
 * The cluster test (issue 19): three `main.ts` processes on one Postgres behind a round-robin load
 * balancer the test starts; every Twilio request and page request goes through it (a new
 * connection each, so consecutive requests of one call reach different instances).
 *
 * - 30 calls, each with its webhook, media socket, status callbacks, the `<Connect action>`, and an
 *   answering machine or a hang-up from the API on some: none lost, every record complete, each
 *   call's live feed complete on an instance that did not run it, no stream token used twice.
 * - kill -9 of one instance mid-call: a peer closes its calls `server_crashed`; the others' go on.
 * - SIGTERM of one instance while a call runs on it: its /healthz says draining, new calls go to
 *   the others, its call finishes.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { AFTER_STREAM_PATH, STATUS_CALLBACK_PATH, VOICE_WEBHOOK_PATH } from "../../src/paths.ts";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import type { FakeTwilioCall } from "../../testing/fake_twilio.ts";
import {
  listeningPort,
  type ParleyProcess,
  reap,
  spawnParley,
  TEST_PERSONAS_DIR,
} from "../../testing/parley_process.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import {
  freshConnectionFetch,
  type RoundRobinProxy,
  startRoundRobinProxy,
} from "../../testing/round_robin_proxy.ts";
import { connectStream, newCallSid, type TwilioTarget } from "../../testing/twilio_webhook.ts";
import { within } from "../../testing/within.ts";
import { readFrames } from "../../testing/sse_frames.ts";

const ignore = !postgresAvailable();
const API_TOKEN = "cluster-api-token-0123456789";
const AUTH_TOKEN = "cluster-auth-token-0123456789";
const PUBLIC = "https://parley.test";
const INSTANCES = ["web-1", "web-2", "web-3"];
const auth = { authorization: `Bearer ${API_TOKEN}` };

function env(
  name: string,
  databaseUrl: string,
  upstreamUrl: string,
  dataDir: string,
): Record<string, string> {
  return {
    PORT: "0",
    PUBLIC_BASE_URL: PUBLIC,
    OPENAI_API_KEY: "sk-cluster-test-key-0123456789",
    OPENAI_REALTIME_URL: upstreamUrl,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    API_TOKEN,
    PERSONAS_DIR: TEST_PERSONAS_DIR,
    DEFAULT_PERSONA: "tester",
    INBOUND_PERSONA: "tester",
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    INSTANCE_ID: name,
    INSTANCE_TIMEOUT_S: "2",
    DRAIN_TIMEOUT_S: "60",
  };
}

/** A Twilio request (signed form POST) through the balancer. */
function postTwilio(proxy: RoundRobinProxy, path: string, params: Record<string, string>): Promise<Response> {
  return freshConnectionFetch(`http://127.0.0.1:${proxy.port}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "X-Twilio-Signature": getExpectedTwilioSignature(AUTH_TOKEN, `${PUBLIC}${path}`, params),
    },
    body: new URLSearchParams(params),
  });
}

/** A call placed through the balancer: where its socket landed, and its live feed on another instance. */
interface PlacedCall {
  call: FakeTwilioCall;
  streamUrl: string;
  /** Index of the instance its media socket reached. */
  runsOn: number;
  /** Index of the instance that answered its voice webhook. */
  webhookOn: number;
  feed: Promise<string[]> | undefined;
}

/**
 * Does what Twilio does through the balancer: webhook, media socket, `start`, answered callback.
 * Every request is a new connection (as Twilio's are), so the balancer sends each to the next
 * instance; the webhook must not ride a kept-alive connection, or every call's socket would land
 * on the same instance.
 */
async function placeCall(proxy: RoundRobinProxy): Promise<PlacedCall> {
  const target: TwilioTarget = { port: proxy.port, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC };
  const callSid = newCallSid();
  const webhook = await postTwilio(proxy, VOICE_WEBHOOK_PATH, {
    CallSid: callSid,
    AccountSid: "AC00000000000000000000000000000000",
  });
  const webhookOn = proxy.assignments.at(-1)!;
  const twiml = new TextDecoder().decode(await webhook.arrayBuffer());
  const streamUrl = twiml.match(/<Stream url="([^"]+)"/)?.[1];
  assert.ok(streamUrl !== undefined, `the webhook answered a stream: ${twiml}`);
  const call = await connectStream(target, streamUrl, callSid);
  const runsOn = proxy.assignments.at(-1)!;
  call.start();
  const answered = await postTwilio(proxy, STATUS_CALLBACK_PATH, {
    CallSid: callSid,
    CallStatus: "in-progress",
  });
  assert.equal(answered.status, 204);
  return { call, streamUrl, runsOn, webhookOn, feed: undefined };
}

/**
 * Places calls until one runs on an instance `wanted` accepts; the others are kept (still live).
 * A call takes three connections, so with three instances in the rotation every socket would land
 * on the same one, and with two they alternate: every other miss is followed by one request through
 * the balancer, so that the sockets walk through every instance whether two or three are in it.
 */
async function placeCallOn(
  proxy: RoundRobinProxy,
  wanted: (call: PlacedCall) => boolean,
  others: PlacedCall[],
): Promise<PlacedCall> {
  for (let tries = 0; tries < 12; tries++) {
    const call = await placeCall(proxy);
    if (wanted(call)) return call;
    others.push(call);
    if (tries % 2 === 0) await freshConnectionFetch(`http://127.0.0.1:${proxy.port}/healthz`);
  }
  throw new Error(`12 calls placed, none on the wanted instance: ${others.map((c) => c.runsOn)}`);
}

/** Polls `read` (a request through the balancer or to one instance) until `done`; bounded by `within`. */
async function until<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  ms = 15_000,
): Promise<T> {
  return await within(
    (async () => {
      for (;;) {
        const value = await read();
        if (done(value)) return value;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })(),
    what,
    ms,
  );
}

/** The record of `callSid`, read through the balancer (whichever instance answers). */
async function recordOf(
  proxy: RoundRobinProxy,
  callSid: string,
): Promise<Record<string, unknown> | undefined> {
  const response = await freshConnectionFetch(`http://127.0.0.1:${proxy.port}/api/calls/${callSid}`, {
    headers: auth,
  });
  return response.status === 200 ? await response.json() : undefined;
}

/**
 * Opens the live feed of `callSid` on the instance at `port` and resolves with the event names it
 * hears after its snapshot, until `call.ended` (or fails after 30 s).
 */
async function openFeed(
  port: number,
  callSid: string,
): Promise<{ eventSeq: number; heard: Promise<string[]> }> {
  const abort = new AbortController();
  const response = await fetch(`http://127.0.0.1:${port}/api/calls/${callSid}/events`, {
    headers: auth,
    signal: abort.signal,
  });
  assert.equal(response.status, 200);
  const frames = readFrames(response.body!);
  const snapshot = await frames.next();
  assert.equal(snapshot.value?.event, "snapshot");
  const eventSeq = JSON.parse(snapshot.value!.data).eventSeq as number;
  const heard = (async () => {
    const names: string[] = [];
    const guard = setTimeout(() => abort.abort(), 30_000);
    try {
      for await (const frame of frames) {
        names.push(frame.event);
        if (frame.event === "call.ended") break;
      }
    } catch (error) {
      if (!abort.signal.aborted) throw error;
    } finally {
      clearTimeout(guard);
      abort.abort();
    }
    return names;
  })();
  return { eventSeq, heard };
}

Deno.test({
  name: "three instances on one Postgres behind a round-robin balancer act as one Parley",
  ignore,
  async fn(t) {
    const server = await startThrowawayPostgres();
    const upstream = FakeRealtimeServer.start();
    const dataDir = await Deno.makeTempDir();
    const processes: ParleyProcess[] = [];
    let proxy: RoundRobinProxy | undefined;
    const url = await server.createDatabase();
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      processes.push(
        ...await Promise.all(
          INSTANCES.map((name) => spawnParley("start", env(name, url, upstream.url, dataDir))),
        ),
      );
      const ports = await Promise.all(processes.map(listeningPort));
      proxy = startRoundRobinProxy(ports);
      const balancer = proxy;

      await t.step(
        "30 calls: none lost, records complete, feeds complete elsewhere, tokens single-use",
        async () => {
          const placed: PlacedCall[] = [];
          const feeds: { eventSeq: number; heard: Promise<string[]> }[] = [];
          for (let i = 0; i < 30; i++) {
            const call = await placeCall(balancer);
            placed.push(call);
            // The feed on the next instance: one that does not run the call.
            await until(
              `the record of call ${i}`,
              () => recordOf(balancer, call.call.callSid),
              (r) => r?.startedAt != null,
            );
            feeds.push(await openFeed(ports[(call.runsOn + 1) % 3]!, call.call.callSid));
          }
          const expected: string[] = [];
          for (const [i, { call }] of placed.entries()) {
            if (i % 6 === 0) {
              // Twilio's answering-machine result, wherever it lands: `tester` has no voicemail, so A hangs up.
              const amd = await postTwilio(balancer, STATUS_CALLBACK_PATH, {
                CallSid: call.callSid,
                AnsweredBy: "machine_end_beep",
              });
              assert.equal(amd.status, 204);
              expected.push("agent_hung_up");
            } else if (i % 6 === 1) {
              const hungUp = await freshConnectionFetch(
                `http://127.0.0.1:${balancer.port}/api/calls/${call.callSid}/hangup`,
                { method: "POST", headers: auth },
              );
              assert.equal(hungUp.status, 200, await hungUp.text());
              expected.push("hung_up_by_user");
            } else {
              call.stop();
              expected.push("caller_hung_up");
            }
          }
          for (const [i, feed] of feeds.entries()) {
            const heard = await feed.heard;
            assert.equal(heard.at(-1), "call.ended", `call ${i}'s feed: ${heard.join(", ")}`);
            const stored = await sql<{ type: string }[]>`
            SELECT event->>'type' AS type FROM call_events WHERE call_sid = ${placed[i]!.call.callSid}
              AND seq > ${feed.eventSeq} AND seq <= (SELECT MIN(seq) FROM call_events
                WHERE call_sid = ${placed[i]!.call.callSid} AND event->>'type' = 'call.ended')
            ORDER BY seq`;
            assert.deepEqual(
              heard,
              stored.map((row) => row.type),
              `call ${i}: the feed heard exactly what was stored`,
            );
          }
          for (const [i, { call, streamUrl, runsOn }] of placed.entries()) {
            await within(call.closed, `call ${i}'s media socket to close`);
            await postTwilio(balancer, STATUS_CALLBACK_PATH, {
              CallSid: call.callSid,
              CallStatus: "completed",
            });
            const after = await postTwilio(balancer, `${AFTER_STREAM_PATH}?persona=tester`, {
              CallSid: call.callSid,
            });
            assert.equal(after.status, 200);
            const twiml = await after.text();
            if (i % 6 === 0) {
              assert.match(twiml, /<Hangup\s*\/>/, `call ${i}: the machine's call hangs up anywhere`);
            }
            const record = await until(
              `call ${i}'s record to be complete`,
              () => recordOf(balancer, call.callSid),
              (r) =>
                Array.isArray(r?.statuses) &&
                (r.statuses as { status: string }[]).some((s) => s.status === "completed"),
            );
            assert.equal(record!.endReason, expected[i], `call ${i}`);
            assert.equal(record!.instance, INSTANCES[runsOn], `call ${i} runs where its socket landed`);
            assert.notEqual(record!.startedAt, null);
            assert.notEqual(record!.endedAt, null);
            assert.deepEqual(
              (record!.statuses as { status: string }[]).map((s) => s.status).filter((s) =>
                s !== "machine-detected"
              ),
              ["answered", "completed"],
              `call ${i}'s statuses`,
            );
            // The token was claimed: a second socket with it is refused, whichever instance it reaches.
            const target = { port: balancer.port, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC };
            await assert.rejects(
              connectStream(target, streamUrl, call.callSid),
              `call ${i}'s stream token twice`,
            );
          }
          const calls = await sql`SELECT count(*)::int AS n FROM calls WHERE ended_at IS NOT NULL`;
          assert.equal(calls[0]!.n, 30, "30 records, all ended");
          assert.deepEqual(
            new Set(placed.map((p) => p.runsOn)),
            new Set([0, 1, 2]),
            "every instance ran calls",
          );
        },
      );

      await t.step("kill -9 of one instance mid-call: a peer closes its calls server_crashed", async () => {
        const victim = 2;
        const onVictim: PlacedCall[] = [];
        const elsewhere: PlacedCall[] = [];
        while (onVictim.length < 2) {
          onVictim.push(await placeCallOn(balancer, (c) => c.runsOn === victim, elsewhere));
        }
        while (elsewhere.length < 2) {
          elsewhere.push(await placeCallOn(balancer, (c) => c.runsOn !== victim, onVictim));
        }
        for (const { call } of [...onVictim, ...elsewhere]) {
          await until(
            `${call.callSid} to start`,
            () => recordOf(balancer, call.callSid),
            (r) => r?.startedAt != null,
          );
        }
        processes[victim]!.child.kill("SIGKILL");
        await processes[victim]!.child.status;
        const killedAt = performance.now();
        for (const { call } of onVictim) {
          const record = await until(
            `a peer to close ${call.callSid}`,
            () => recordOf(balancer, call.callSid),
            (r) => r?.endedAt != null,
            35_000,
          );
          assert.equal(record!.endReason, "server_crashed");
          assert.match(
            String(record!.endDetail),
            /instance web-3 stopped \(no heartbeat for 2 s\): closed by web-[12]/,
          );
        }
        const tookS = (performance.now() - killedAt) / 1000;
        assert.ok(tookS < 35, `closed ${tookS.toFixed(1)} s after the kill`);
        for (const { call } of elsewhere) {
          assert.equal((await recordOf(balancer, call.callSid))!.endedAt, null, "calls on the others go on");
          call.stop();
          const record = await until(
            `${call.callSid} to end`,
            () => recordOf(balancer, call.callSid),
            (r) => r?.endedAt != null,
          );
          assert.equal(record!.endReason, "caller_hung_up");
        }
      });

      await t.step(
        "SIGTERM of one instance: /healthz draining, new calls go elsewhere, its call finishes",
        async () => {
          const draining = 1;
          const others: PlacedCall[] = [];
          const spare: PlacedCall[] = [];
          const live = await placeCallOn(balancer, (c) => c.runsOn === draining, others);
          // A call the draining instance answered the webhook of, relayed by another: the drain
          // neither waits for it nor ends it.
          others.push(
            await placeCallOn(balancer, (c) => c.webhookOn === draining && c.runsOn !== draining, spare),
          );
          for (const { call } of spare) {
            call.stop();
            await until(
              `${call.callSid} to end`,
              () => recordOf(balancer, call.callSid),
              (r) => r?.endedAt != null,
            );
          }
          await until(
            "the call to start",
            () => recordOf(balancer, live.call.callSid),
            (r) => r?.startedAt != null,
          );
          processes[draining]!.child.kill("SIGTERM");
          const health = await until(
            "web-2's /healthz to say draining",
            () => freshConnectionFetch(`http://127.0.0.1:${ports[draining]}/healthz`).then((r) => r.json()),
            (body) => body.status === "draining",
          );
          assert.equal(health.activeCalls, 1);
          await balancer.checkHealth();
          assert.equal(balancer.backends[draining]!.healthy, false, "the balancer takes it out");
          for (let i = 0; i < 4; i++) {
            const call = await placeCall(balancer);
            assert.notEqual(call.runsOn, draining, "a new call goes to another instance");
            others.push(call);
          }
          live.call.stop();
          const record = await until(
            "its call to end",
            () => recordOf(balancer, live.call.callSid),
            (r) => r?.endedAt != null,
          );
          assert.equal(record!.endReason, "caller_hung_up", "the live call finished, not cut");
          assert.equal((await processes[draining]!.child.status).code, 0, "it exits once drained");
          for (const { call } of others) {
            call.stop();
            const ended = await until(
              `${call.callSid} to end`,
              () => recordOf(balancer, call.callSid),
              (r) => r?.endedAt != null,
            );
            assert.equal(ended!.endReason, "caller_hung_up");
            assert.notEqual(ended!.instance, "web-2");
          }
        },
      );
    } finally {
      await proxy?.[Symbol.asyncDispose]();
      await Promise.all(processes.map(reap));
      await sql.end();
      await upstream.close();
      await Deno.remove(dataDir, { recursive: true });
      await server.stop();
    }
  },
});
