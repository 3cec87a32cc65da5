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
  reap,
  spawnParley,
} from "../../testing/parley_process.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { PERSONAS, SCHEMA } from "./_analysis_rig.ts";

const AUTH_TOKEN = "analysis-auth-token-0123456789";
const API_TOKEN = "analysis-api-token-0123456789";
const OPENAI_KEY = "sk-analysis-key-0123456789";
const PUBLIC_BASE_URL = "https://parley.test";

Deno.test("a SIGKILL between tries loses nothing: the next start stores the outcome", async () => {
  const upstream = FakeRealtimeServer.start();
  const outcome = { interested: true, meetingDay: "Friday", objections: [] };
  // The first try meets a 429 asking for 2 s; the process dies inside them.
  const fake = FakeResponsesServer.start(OPENAI_KEY, () => outcome, {
    failures: [{ status: 429, retryAfterMs: 2_000 }],
  });
  const dataDir = await Deno.makeTempDir({ prefix: "parley_analysis_kill_" });
  let first: ParleyProcess | undefined;
  let second: ParleyProcess | undefined;
  try {
    await withPersonaDir(PERSONAS, async (personasDir) => {
      const env = {
        PORT: "0",
        PUBLIC_BASE_URL,
        OPENAI_API_KEY: OPENAI_KEY,
        OPENAI_REALTIME_URL: upstream.url,
        OPENAI_BASE_URL: fake.baseUrl,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        API_TOKEN,
        DATA_DIR: dataDir,
        PERSONAS_DIR: personasDir,
        DEFAULT_PERSONA: "lead",
        INBOUND_PERSONA: "lead",
        INSTANCE_ID: "analysis-1",
      };
      first = await spawnParley("start", env);
      const port = await listeningPort(first);
      const call = await placeTwilioCall({ port, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC_BASE_URL }, {
        persona: "lead",
      });
      call.start({ persona: "lead" });
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

      second = await spawnParley("start", env);
      const port2 = await listeningPort(second);
      await within(
        second.stdout.waitFor(/Analysis done: CallSid=CA\w+/),
        "the outcome after the restart",
        10_000,
      );
      const response = await fetch(`http://127.0.0.1:${port2}/api/calls/${call.callSid}`, {
        headers: { authorization: `Bearer ${API_TOKEN}` },
      });
      const record = await response.json();
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
    });
  } finally {
    if (first !== undefined) await reap(first);
    if (second !== undefined) await reap(second);
    await fake.close();
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a call a SIGKILL cut is analysed at the next start, once its record is closed", async () => {
  const upstream = FakeRealtimeServer.start();
  const outcome = { interested: false, meetingDay: null, objections: ["cut off"] };
  const fake = FakeResponsesServer.start(OPENAI_KEY, () => outcome);
  const dataDir = await Deno.makeTempDir({ prefix: "parley_analysis_cut_" });
  let first: ParleyProcess | undefined;
  let second: ParleyProcess | undefined;
  try {
    await withPersonaDir(PERSONAS, async (personasDir) => {
      const env = {
        PORT: "0",
        PUBLIC_BASE_URL,
        OPENAI_API_KEY: OPENAI_KEY,
        OPENAI_REALTIME_URL: upstream.url,
        OPENAI_BASE_URL: fake.baseUrl,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        API_TOKEN,
        DATA_DIR: dataDir,
        PERSONAS_DIR: personasDir,
        DEFAULT_PERSONA: "lead",
        INBOUND_PERSONA: "lead",
        INSTANCE_ID: "analysis-1",
      };
      first = await spawnParley("start", env);
      const port = await listeningPort(first);
      const call = await placeTwilioCall({ port, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC_BASE_URL }, {
        persona: "lead",
      });
      call.start({ persona: "lead" });
      const session = await upstream.session(0);
      await session.waitFor("response.create");
      // Reading the record writes what is queued: once it answers, the call is on disk.
      const live = await fetch(`http://127.0.0.1:${port}/api/calls/${call.callSid}`, {
        headers: { authorization: `Bearer ${API_TOKEN}` },
      });
      assert.equal((await live.json()).persona, "lead");
      first.child.kill("SIGKILL");
      await first.child.status;
      await call.closed;
      assert.equal(fake.requests.length, 0, "no analysis of a call still running");

      second = await spawnParley("start", env);
      const port2 = await listeningPort(second);
      await within(second.stdout.waitFor(/Analysis done: CallSid=CA\w+/), "the cut call's outcome", 10_000);
      const record = await (await fetch(`http://127.0.0.1:${port2}/api/calls/${call.callSid}`, {
        headers: { authorization: `Bearer ${API_TOKEN}` },
      })).json();
      assert.equal(record.endReason, "server_crashed");
      assert.equal(record.outcome.state, "done");
      assert.deepEqual(record.outcome.result, outcome);
      assert.match(JSON.stringify(fake.requests[0]!.body!.input), /Ended: server_crashed/);
      second.child.kill("SIGTERM");
      assert.equal((await second.child.status).code, 0);
    });
  } finally {
    if (first !== undefined) await reap(first);
    if (second !== undefined) await reap(second);
    await fake.close();
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
