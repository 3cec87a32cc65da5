/**
 * The real process: `main.ts` is SIGKILLed while an analysis waits out its backoff after a 429; the
 * next start on the same DATA_DIR tries it again and stores the outcome.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FakeRealtimeServer, toneBytes } from "../../testing/fake_realtime.ts";
import { FakeResponsesServer } from "../../testing/fake_responses.ts";
import { within } from "../../testing/within.ts";
import {
  listeningPort,
  type ParleyProcess,
  placeTwilioCall,
  PROCESS_API_TOKEN,
  PROCESS_AUTH_TOKEN,
  PROCESS_PUBLIC_BASE_URL,
  processEnv,
  reap,
  spawnParley,
} from "../../testing/parley_process.ts";
import type { FakeTwilioCall } from "../../testing/fake_twilio.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { PERSONAS, SCHEMA } from "./_analysis_rig.ts";

const AUTH_TOKEN = PROCESS_AUTH_TOKEN;
const API_TOKEN = PROCESS_API_TOKEN;
const OPENAI_KEY = "sk-analysis-key-0123456789";
const PUBLIC_BASE_URL = PROCESS_PUBLIC_BASE_URL;

/** Two runs of `main.ts` on one DATA_DIR, their Realtime upstream and their Responses API. */
interface RestartRig {
  upstream: FakeRealtimeServer;
  fake: FakeResponsesServer;
  /** Starts `main.ts` on the rig's DATA_DIR (reaped at the end) and waits for its port. */
  start(): Promise<{ parley: ParleyProcess; port: number }>;
}

/**
 * Runs `fn` with a {@linkcode RestartRig} whose analyses answer `outcome` (after `failures`), then
 * reaps every process it started and removes the data folder.
 */
async function withRestartRig(
  options: { prefix: string; outcome: unknown; failures?: { status: number; retryAfterMs?: number }[] },
  fn: (rig: RestartRig) => Promise<void>,
): Promise<void> {
  const upstream = FakeRealtimeServer.start();
  const fake = FakeResponsesServer.start(
    OPENAI_KEY,
    () => options.outcome,
    options.failures === undefined ? {} : { failures: options.failures },
  );
  const dataDir = await Deno.makeTempDir({ prefix: options.prefix });
  const started: ParleyProcess[] = [];
  try {
    await withPersonaDir(PERSONAS, async (personasDir) => {
      const env = processEnv(
        { upstreamUrl: upstream.url, dataDir, personasDir, defaultPersona: "lead", inboundPersona: "lead" },
        { OPENAI_API_KEY: OPENAI_KEY, OPENAI_BASE_URL: fake.baseUrl, INSTANCE_ID: "analysis-1" },
      );
      await fn({
        upstream,
        fake,
        start: async () => {
          const parley = await spawnParley("start", env);
          started.push(parley);
          return { parley, port: await listeningPort(parley) };
        },
      });
    });
  } finally {
    for (const parley of started) await reap(parley);
    await fake.close();
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** A Twilio call to the persona "lead" on `port`, its stream started. */
async function callLead(port: number): Promise<FakeTwilioCall> {
  const call = await placeTwilioCall({ port, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC_BASE_URL }, {
    persona: "lead",
  });
  call.start({ persona: "lead" });
  return call;
}

/** The call's record as `GET /api/calls/:callSid` answers it. */
async function callRecord(port: number, callSid: string) {
  const response = await fetch(`http://127.0.0.1:${port}/api/calls/${callSid}`, {
    headers: { authorization: `Bearer ${API_TOKEN}` },
  });
  return await response.json();
}

Deno.test("a SIGKILL between tries loses nothing: the next start stores the outcome", async () => {
  const outcome = { interested: true, meetingDay: "Friday", objections: [] };
  // The first try meets a 429 asking for 2 s; the process dies inside them.
  await withRestartRig(
    { prefix: "parley_analysis_kill_", outcome, failures: [{ status: 429, retryAfterMs: 2_000 }] },
    async ({ upstream, fake, start }) => {
      const { parley: first, port } = await start();
      const call = await callLead(port);
      const session = await upstream.session(0);
      await session.waitFor("response.create");
      await session.streamResponse({
        responseId: "r1",
        itemId: "i1",
        audio: toneBytes(100, 7),
        transcript: "Hi, this is Alex.",
      });
      await call.waitFor("media");
      call.stop();
      await within(first.stderr.waitFor(/Analysis try 1 of 8 failed .*429/), "the first try's 429");
      first.child.kill("SIGKILL");
      await first.child.status;
      assert.deepEqual(fake.requests.map((r) => r.status), [429]);

      const { parley: second, port: port2 } = await start();
      await within(
        second.stdout.waitFor(/Analysis done: CallSid=CA\w+/),
        "the outcome after the restart",
        10_000,
      );
      const record = await callRecord(port2, call.callSid);
      assert.equal(record.outcome.state, "done");
      assert.deepEqual(record.outcome.result, outcome);
      assert.equal(record.outcome.attempts, 2);
      assert.deepEqual(fake.requests.map((r) => r.status), [429, 200]);
      assert.deepEqual(
        (fake.requests[1]!.body!.text as { format: { schema: unknown } }).format.schema,
        SCHEMA,
      );
      second.child.kill("SIGTERM");
      assert.equal((await second.child.status).code, 0);
    },
  );
});

Deno.test("a call a SIGKILL cut is analysed at the next start, once its record is closed", async () => {
  const outcome = { interested: false, meetingDay: null, objections: ["cut off"] };
  await withRestartRig({ prefix: "parley_analysis_cut_", outcome }, async ({ upstream, fake, start }) => {
    const { parley: first, port } = await start();
    const call = await callLead(port);
    const session = await upstream.session(0);
    await session.waitFor("response.create");
    // The greeting may be asked for by the pre-warm, before the stream starts: wait for the start (a
    // call that never started has nothing to analyse). Reading the record then writes what is queued:
    // once it answers, the started call is on disk.
    await within(first.stdout.waitFor(new RegExp(`Stream started: CallSid=${call.callSid}`)), "the stream");
    assert.notEqual((await callRecord(port, call.callSid)).startedAt, null);
    first.child.kill("SIGKILL");
    await first.child.status;
    await call.closed;
    assert.equal(fake.requests.length, 0, "no analysis of a call still running");

    const { parley: second, port: port2 } = await start();
    await within(second.stdout.waitFor(/Analysis done: CallSid=CA\w+/), "the cut call's outcome", 10_000);
    const record = await callRecord(port2, call.callSid);
    assert.equal(record.endReason, "server_crashed");
    assert.equal(record.outcome.state, "done");
    assert.deepEqual(record.outcome.result, outcome);
    assert.match(JSON.stringify(fake.requests[0]!.body!.input), /Ended: server_crashed/);
    second.child.kill("SIGTERM");
    assert.equal((await second.child.status).code, 0);
  });
});
