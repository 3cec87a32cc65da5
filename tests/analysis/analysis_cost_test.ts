/**
 * The analysis's own cost is part of the call's stored cost (issue 20 §2): once the analysis is done,
 * the record's `costUsd` is the call's responses plus the analysis, alike in `GET /api/calls/:sid`, the
 * list, the CSV, `/metrics`, after a restart, and in the `call.analyzed` webhook (`costUsd` the
 * analysis's, `callCostUsd` the call's with it).
 *
 * @module
 */

import assert from "node:assert/strict";
import { ANALYSIS_COST, API_TOKEN, AUTH, getJson, withRig } from "./_analysis_rig.ts";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley, type TestParley } from "../../testing/parley_harness.ts";
import { startWebhookReceiver } from "../../testing/webhook_receiver.ts";
import { within } from "../../testing/within.ts";
import { callDatabasePath } from "../../src/store/sqlite/call_store.ts";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import type { FakeResponsesServer } from "../../testing/fake_responses.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwC8ZbS0Ua4nA=";

/** Parley over the SQLite store of `dataDir`, asking `fake`, sending webhooks to `webhookUrl`. */
async function start(dir: string, dataDir: string, fake: FakeResponsesServer, webhookUrl: string) {
  const store = openSqliteStore(callDatabasePath(dataDir), { instance: "analysis-cost-test" });
  const t = await startTestParley({
    personasDir: dir,
    env: {
      DEFAULT_PERSONA: "lead",
      API_TOKEN,
      OPENAI_BASE_URL: fake.baseUrl,
      WEBHOOK_URL: webhookUrl,
      WEBHOOK_SECRET: SECRET,
    },
    shared: store,
    webhookTiming: { pollMs: 25 },
  });
  return {
    t,
    async close() {
      await t.close();
      store.close();
    },
  };
}

/** A call whose greeting reports its tokens (so the call has a cost of its own); resolves once it ended. */
async function pricedCall(t: TestParley): Promise<string> {
  const call = await t.startCall({ persona: "lead", lead: "Dana" });
  const session = await t.upstream.session(0);
  await session.waitFor("response.create");
  await session.streamResponse({
    responseId: "resp_1",
    itemId: "item_1",
    audio: toneBytes(100, 0x61),
    transcript: "Hi Dana, this is Alex. Do you have two minutes?",
    usage: {
      total_tokens: 1500,
      input_tokens: 1000,
      output_tokens: 500,
      input_token_details: { text_tokens: 900, audio_tokens: 100, cached_tokens: 0 },
      output_token_details: { text_tokens: 100, audio_tokens: 400 },
    },
  });
  await call.waitForEcho("item_1:100");
  call.stop();
  await t.waitForEvent("call.ended");
  return call.callSid;
}

/** The value of an unlabelled sample in Prometheus text. */
function sample(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  assert.ok(line !== undefined, `${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}

const close = (a: number, b: number) => Math.abs(a - b) < 1e-12;

Deno.test("the analysis's cost is stored in the call's cost: record, list, CSV, /metrics, restart and call.analyzed agree", async () => {
  const receiver = await startWebhookReceiver(SECRET);
  try {
    await withRig(
      [],
      { interested: false, meetingDay: null, objections: ["price"] },
      async (fake, dir, dataDir) => {
        let rig = await start(dir, dataDir, fake, receiver.url);
        try {
          const callSid = await pricedCall(rig.t);
          await rig.t.waitForEvent("call.analyzed");
          const record = await getJson(`${rig.t.origin}/api/calls/${callSid}`);
          // The call's own cost: its priced responses.
          assert.equal(record.responses.length, 1);
          assert.ok(record.responses[0].costUsd > 0, "the call has a cost of its own");
          const own = record.responses.reduce((sum: number, r: { costUsd: number }) => sum + r.costUsd, 0);
          assert.ok(close(record.outcome.costUsd, ANALYSIS_COST), `analysis ${record.outcome.costUsd}`);
          assert.ok(
            close(record.costUsd, own + ANALYSIS_COST),
            `${own} + ${ANALYSIS_COST} → ${record.costUsd}`,
          );

          const { calls } = await getJson(`${rig.t.origin}/api/calls`);
          assert.equal(calls[0].costUsd, record.costUsd);
          const csv = await (await fetch(`${rig.t.origin}/api/calls.csv`, { headers: AUTH })).text();
          const [header, row] = csv.trimEnd().split("\r\n");
          const column = header!.split(",").indexOf("cost_usd");
          assert.equal(row!.split(",")[column], record.costUsd.toFixed(6));

          const metrics = await (await fetch(`${rig.t.origin}/metrics`, { headers: AUTH })).text();
          assert.ok(
            close(sample(metrics, "parley_estimated_cost_usd_total"), record.costUsd),
            `/metrics cost ${
              sample(metrics, "parley_estimated_cost_usd_total")
            } vs the record's ${record.costUsd}`,
          );

          await within(
            receiver.waitFor((r) => r.some((w) => w.body.type === "call.analyzed")),
            "call.analyzed at the receiver",
            10_000,
          );
          const analyzed = receiver.received.find((w) => w.body.type === "call.analyzed")!.body.data;
          assert.equal(analyzed.costUsd, record.outcome.costUsd);
          assert.equal(analyzed.callCostUsd, record.costUsd);

          // Stored, not added when read: a new process on the same store reads the same cost.
          await rig.close();
          rig = await start(dir, dataDir, fake, receiver.url);
          const again = await getJson(`${rig.t.origin}/api/calls/${callSid}`);
          assert.equal(again.costUsd, record.costUsd);
        } finally {
          await rig.close();
        }
      },
    );
  } finally {
    await receiver.close();
  }
});
