/**
 * The post-call analysis end to end: a call through the fakes ends, Parley asks the fake Responses
 * API (written from npm openai's types: it refuses a malformed request as the API does) with strict
 * structured output, rides out two 429s, stores the outcome with its cost, and shows it in
 * `GET /api/calls/:sid`, the list and `GET /api/calls.csv`. A final failure is recorded with its
 * reason; a restart between tries still ends with the outcome stored.
 *
 * @module
 */

import assert from "node:assert/strict";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { FakeResponsesServer, type ScriptedFailure } from "../../testing/fake_responses.ts";
import { startTestParley, TEST_OPENAI_KEY, type TestParley } from "../../testing/parley_harness.ts";
import { callDatabasePath } from "../../src/store/sqlite/call_store.ts";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import type { Store } from "../../src/store/ports.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";

const API_TOKEN = "analysis-test-token-0123456789";
const AUTH = { authorization: `Bearer ${API_TOKEN}` };
const SCHEMA = {
  type: "object",
  properties: {
    interested: { type: "boolean" },
    meetingDay: { type: ["string", "null"] },
    objections: { type: "array", items: { type: "string" } },
  },
  required: ["interested", "meetingDay", "objections"],
  additionalProperties: false,
};
const PERSONAS = {
  "lead.ts": personaSource({
    voice: "marin",
    instructions: "You are Alex. Book a demo.",
    greeting: "Say hello.",
    analysis: { schema: SCHEMA, instructions: "A demo booked means interested." },
  }),
};
/** gpt-5-mini: $0.25 per 1M input tokens, $2 per 1M output; the fake reports 1000 in, 200 out. */
const ANALYSIS_COST = (1000 * 0.25 + 200 * 2) / 1_000_000;

/** Parley over a SQLite store in `dataDir`, asking `fake`. */
async function startParley(dir: string, dataDir: string, fake: FakeResponsesServer) {
  const store: Store = openSqliteStore(callDatabasePath(dataDir), { instance: "analysis-test" });
  const t = await startTestParley({
    personasDir: dir,
    env: { DEFAULT_PERSONA: "lead", API_TOKEN, OPENAI_BASE_URL: fake.baseUrl },
    shared: store,
  });
  return {
    t,
    store,
    async close() {
      await t.close();
      store.close();
    },
  };
}

/** A short call: the greeting, one caller line, one answer, the caller hangs up. */
async function runCall(t: TestParley): Promise<string> {
  const call = await t.startCall({ persona: "lead", lead: "Dana" });
  const session = await t.upstream.session(0);
  await session.waitFor("response.create");
  await session.streamResponse({
    responseId: "resp_1",
    itemId: "item_1",
    audio: toneBytes(100, 0x61),
    transcript: "Hi Dana, this is Alex. Do you have two minutes?",
  });
  await call.waitForEcho("item_1:100");
  session.speechStarted("item_c1");
  session.speechStopped("item_c1");
  session.send({
    type: "conversation.item.input_audio_transcription.completed",
    item_id: "item_c1",
    content_index: 0,
    transcript: "Sure, Tuesday works for a demo.",
  });
  await t.waitForEvent("transcript", (e) => e.speaker === "caller");
  call.stop();
  await t.waitForEvent("call.ended");
  return call.callSid;
}

// deno-lint-ignore no-explicit-any -- the API's JSON, read field by field
async function getJson(url: string): Promise<Record<string, any>> {
  const response = await fetch(url, { headers: AUTH });
  assert.equal(response.status, 200, `GET ${url}`);
  return await response.json();
}

async function withRig(
  failures: ScriptedFailure[],
  answer: unknown,
  body: (fake: FakeResponsesServer, dir: string, dataDir: string) => Promise<void>,
): Promise<void> {
  const fake = FakeResponsesServer.start(TEST_OPENAI_KEY, () => answer, { failures });
  const dataDir = await Deno.makeTempDir({ prefix: "parley_analysis_" });
  try {
    await withPersonaDir(PERSONAS, (dir) => body(fake, dir, dataDir));
  } finally {
    await fake.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test("two 429s, then the outcome: stored, priced, in the record, the list and the CSV", async () => {
  const outcome = { interested: true, meetingDay: "Tuesday", objections: [] };
  const failures = [{ status: 429, retryAfterMs: 30 }, { status: 429, retryAfterMs: 30 }];
  await withRig(failures, outcome, async (fake, dir, dataDir) => {
    const rig = await startParley(dir, dataDir, fake);
    try {
      const callSid = await runCall(rig.t);
      const analyzed = await rig.t.waitForEvent("call.analyzed");
      assert.equal(analyzed.callSid, callSid);
      assert.equal(analyzed.state, "done");
      assert.deepEqual(analyzed.outcome, outcome);

      assert.deepEqual(fake.requests.map((r) => r.status), [429, 429, 200]);
      const sent = fake.requests[2]!.body!;
      assert.equal(sent.model, "gpt-5-mini", "OPENAI_ANALYSIS_MODEL's default");
      assert.deepEqual(sent.text, {
        format: {
          type: "json_schema",
          name: "call_outcome",
          schema: SCHEMA,
          strict: true,
          description: 'The outcome of a call the "lead" persona handled',
        },
      });
      assert.match(String(sent.instructions), /A demo booked means interested\.$/);
      const input = JSON.stringify(sent.input);
      assert.match(input, /lead: Dana/, "the call's parameters");
      assert.match(input, /Agent: Hi Dana, this is Alex/);
      assert.match(input, /Caller: Sure, Tuesday works for a demo\./);
      assert.ok(
        rig.t.logs.some((l) => /Analysis try 1 of 8 failed for CallSid=CA\w+: 429 Rate limit/.test(l.line)),
      );

      const record = await getJson(`${rig.t.origin}/api/calls/${callSid}`);
      assert.equal(record.outcome.state, "done");
      assert.deepEqual(record.outcome.result, outcome);
      assert.equal(record.outcome.attempts, 3);
      assert.equal(record.outcome.model, "gpt-5-mini");
      assert.ok(Math.abs(record.outcome.costUsd - ANALYSIS_COST) < 1e-12, `${record.outcome.costUsd}`);

      const { calls } = await getJson(`${rig.t.origin}/api/calls`);
      assert.deepEqual(calls[0].outcome.result, outcome);
      assert.equal(calls[0].costUsd, record.costUsd);

      const csv = await fetch(`${rig.t.origin}/api/calls.csv`, { headers: AUTH });
      assert.equal(csv.status, 200);
      assert.match(csv.headers.get("content-type") ?? "", /^text\/csv/);
      const [header, row] = (await csv.text()).trimEnd().split("\r\n");
      assert.match(
        header!,
        /,outcome_state,outcome_error,outcome\.interested,outcome\.meetingDay,outcome\.objections$/,
      );
      assert.match(row!, new RegExp(`^${callSid},.*,done,,true,Tuesday,\\[\\]$`));
      const refused = await fetch(`${rig.t.origin}/api/calls.csv`);
      assert.equal(refused.status, 401, "the export is behind the same guard");
      await refused.body?.cancel();
    } finally {
      await rig.close();
    }
  });
});

Deno.test("the analysis's cost is added to the call's cost", async () => {
  await withRig(
    [],
    { interested: false, meetingDay: null, objections: ["price"] },
    async (fake, dir, dataDir) => {
      const rig = await startParley(dir, dataDir, fake);
      try {
        const callSid = await runCall(rig.t);
        await rig.t.waitForEvent("call.analyzed");
        // The call's own cost, as the store folds it from the call's usage (the analysis apart).
        const own = (await rig.store.calls.getCall(callSid))?.costUsd;
        assert.equal(typeof own, "number");
        const after = await getJson(`${rig.t.origin}/api/calls/${callSid}`);
        assert.ok(Math.abs(after.costUsd - (own! + ANALYSIS_COST)) < 1e-12, `${own} → ${after.costUsd}`);
      } finally {
        await rig.close();
      }
    },
  );
});

Deno.test("an answer that does not fit the schema is a final failure, recorded with its reason", async () => {
  await withRig([], { interested: "yes", meetingDay: null, objections: [] }, async (fake, dir, dataDir) => {
    const rig = await startParley(dir, dataDir, fake);
    try {
      const callSid = await runCall(rig.t);
      const analyzed = await rig.t.waitForEvent("call.analyzed");
      assert.equal(analyzed.state, "failed");
      const record = await getJson(`${rig.t.origin}/api/calls/${callSid}`);
      assert.equal(record.outcome.state, "failed");
      assert.equal(
        record.outcome.error,
        'the answer does not fit the schema: outcome.interested: "yes" is not boolean',
      );
      assert.equal(fake.requests.length, 1, "not retried");
      assert.ok(rig.t.logs.some((l) => l.level === "error" && /Analysis failed: CallSid=/.test(l.line)));
    } finally {
      await rig.close();
    }
  });
});

Deno.test("a restart between tries still ends with the outcome stored", async () => {
  const outcome = { interested: true, meetingDay: null, objections: [] };
  // The first try meets a 503 with a retry 1 s away; the server stops before it comes.
  await withRig([{ status: 503, retryAfterMs: 1_000 }], outcome, async (fake, dir, dataDir) => {
    const first = await startParley(dir, dataDir, fake);
    let callSid: string;
    try {
      callSid = await runCall(first.t);
      await first.t.waitForLog(/Analysis try 1 of 8 failed .*503/);
    } finally {
      await first.close();
    }
    assert.deepEqual(fake.requests.map((r) => r.status), [503], "no second try before the restart");

    const second = await startParley(dir, dataDir, fake);
    try {
      const analyzed = await second.t.waitForEvent("call.analyzed");
      assert.equal(analyzed.callSid, callSid);
      const record = await getJson(`${second.t.origin}/api/calls/${callSid}`);
      assert.equal(record.outcome.state, "done");
      assert.deepEqual(record.outcome.result, outcome);
      assert.equal(record.outcome.attempts, 2);
      assert.deepEqual(fake.requests.map((r) => r.status), [503, 200]);
    } finally {
      await second.close();
    }
  });
});
