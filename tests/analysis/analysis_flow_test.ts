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
import {
  ANALYSIS_COST,
  API_TOKEN,
  AUTH,
  getJson,
  PERSONAS,
  runCall,
  SCHEMA,
  startParley,
  withRig,
} from "./_analysis_rig.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { callDatabasePath } from "../../src/store/sqlite/call_store.ts";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";

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

Deno.test("8 tries that all meet a 5xx end in a failure recorded with the last reason", async () => {
  const failures = Array.from({ length: 8 }, () => ({ status: 500, retryAfterMs: 5 }));
  await withRig(
    failures,
    { interested: true, meetingDay: null, objections: [] },
    async (fake, dir, dataDir) => {
      const rig = await startParley(dir, dataDir, fake);
      try {
        const callSid = await runCall(rig.t);
        const analyzed = await rig.t.waitForEvent("call.analyzed");
        assert.equal(analyzed.state, "failed");
        assert.equal(fake.requests.length, 8);
        const record = await getJson(`${rig.t.origin}/api/calls/${callSid}`);
        assert.equal(record.outcome.state, "failed");
        assert.equal(record.outcome.attempts, 8);
        assert.match(record.outcome.error, /^500 The server had an error .* \(after 8 tries\)$/);
        assert.equal(fake.failures.length, 0);
      } finally {
        await rig.close();
      }
    },
  );
});

Deno.test("shutdown does not wait for an analysis the API is slow to answer", async () => {
  let release = () => {};
  const held = new Promise<void>((resolve) => release = resolve);
  let asked!: () => void;
  const reached = new Promise<void>((resolve) => asked = resolve);
  const silent = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    await request.body?.cancel();
    asked();
    await held;
    return new Response("late", { status: 503 });
  });
  const dataDir = await Deno.makeTempDir({ prefix: "parley_analysis_slow_" });
  try {
    await withPersonaDir(PERSONAS, async (dir) => {
      const store = openSqliteStore(callDatabasePath(dataDir), { instance: "analysis-test" });
      const t = await startTestParley({
        personasDir: dir,
        env: {
          DEFAULT_PERSONA: "lead",
          API_TOKEN,
          OPENAI_BASE_URL: `http://127.0.0.1:${silent.addr.port}/v1`,
        },
        shared: store,
      });
      try {
        await runCall(t);
        await within(reached, "the analysis request");
      } finally {
        await within(t.close(), "the shutdown, with the request still unanswered", 5_000);
        store.close();
      }
      const reopened = openSqliteStore(callDatabasePath(dataDir), { instance: "x" });
      const callSid = t.events.find((e) => e.type === "call.ended")!.callSid;
      const job = await reopened.analyses!.get(callSid);
      reopened.close();
      assert.equal(job?.state, "running", "left claimed: the next start of this instance puts it back");
    });
  } finally {
    release();
    await silent.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});
