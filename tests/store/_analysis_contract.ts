/**
 * The analyses port's contract (issue 20 §2), run against every adapter beside the store contract:
 * one pending row per call, claimed by one instance at a time, retried, released, settled.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { AnalysisSpec } from "../../src/store/analysis_job.ts";
import type { StoreFactory } from "./_contract.ts";

const SPEC: AnalysisSpec = {
  persona: "alex",
  model: "gpt-5-mini",
  schema: {
    type: "object",
    properties: { ok: { type: "boolean" } },
    required: ["ok"],
    additionalProperties: false,
  },
  instructions: null,
};
const A = "CA00000000000000000000000000000a01";
const B = "CA00000000000000000000000000000a02";
const C = "CA00000000000000000000000000000a03";

/** Runs the analyses contract with stores from `makeFactory`. */
export async function runAnalysisContract(
  t: Deno.TestContext,
  makeFactory: () => StoreFactory,
): Promise<void> {
  const factory = makeFactory();
  const alpha = await factory.open("alpha");
  const beta = await factory.open("beta");
  try {
    const one = alpha.analyses;
    const two = beta.analyses;
    assert.ok(one !== undefined && two !== undefined, "the adapter keeps analyses");

    await t.step("enqueue: one row per call, pending, with its spec", async () => {
      assert.equal(await one.enqueue(A, SPEC, 1_000), true);
      assert.equal(await two.enqueue(A, { ...SPEC, model: "other" }, 1_500), false, "a second is ignored");
      assert.equal(await one.enqueue(B, SPEC, 2_000), true);
      assert.equal(await one.enqueue(C, SPEC, 9_000), true);
      const job = await two.get(A);
      assert.equal(job?.state, "pending");
      assert.deepEqual(job?.spec, SPEC);
      assert.equal(job?.attempts, 0);
      assert.equal(await one.nextTryAt(), 1_000);
    });

    await t.step("claim: two instances at once share the due rows, never one twice", async () => {
      const [mine, theirs] = await Promise.all([
        one.claim("alpha", 5_000, 1, 60_000),
        two.claim("beta", 5_000, 5, 60_000),
      ]);
      const claimed = [...mine, ...theirs].map((job) => job.callSid).sort();
      assert.deepEqual(claimed, [A, B], "C is not due yet; A and B once each");
      for (const job of [...mine, ...theirs]) {
        assert.equal(job.state, "running");
        assert.equal(job.attempts, 1);
      }
      assert.deepEqual(await one.claim("alpha", 5_000, 5, 60_000), [], "nothing left due");
    });

    await t.step("succeed: done, with outcome, usage and cost", async () => {
      const usage = { inputTokens: 1_000, cachedInputTokens: 0, outputTokens: 200 };
      await one.succeed(B, { at: 5_500, outcome: { ok: true }, usage, costUsd: 0.00065 });
      const done = await two.get(B);
      assert.equal(done?.state, "done");
      assert.deepEqual(done?.outcome, { ok: true });
      assert.deepEqual(done?.usage, usage);
      assert.equal(done?.costUsd, 0.00065);
      assert.equal(done?.updatedAt, 5_500);
    });

    await t.step("retry, release, lapse: a claim comes back", async () => {
      await one.retry(A, 6_000, "429 Too Many Requests", 5_100);
      const retried = await one.get(A);
      assert.equal(retried?.state, "pending");
      assert.equal(retried?.error, "429 Too Many Requests");
      assert.equal(await one.nextTryAt(), 6_000);
      const again = await two.claim("beta", 6_000, 1, 60_000);
      assert.deepEqual(again.map((job) => [job.callSid, job.attempts]), [[A, 2]]);
      assert.equal(await one.release("alpha", 7_000), 0, "alpha holds nothing");
      assert.equal(await two.release("beta", 7_000), 1, "beta's claim goes back (its restart)");
      assert.equal((await one.get(A))?.state, "pending");
      const short = await one.claim("alpha", 7_000, 5, 1_000);
      assert.deepEqual(short.map((job) => job.callSid), [A], "C is due at 9000");
      assert.deepEqual(await two.claim("beta", 7_999, 5, 60_000), [], "alpha's claim holds until 8000");
      const lapsed = await two.claim("beta", 9_000, 5, 60_000);
      assert.deepEqual(lapsed.map((job) => [job.callSid, job.attempts]), [[A, 4], [C, 1]]);
    });

    await t.step("fail: failed with the reason; nothing left pending", async () => {
      await two.fail(C, "the answer does not fit the schema: outcome.ok: missing", 9_500);
      const failed = await one.get(C);
      assert.equal(failed?.state, "failed");
      assert.equal(failed?.error, "the answer does not fit the schema: outcome.ok: missing");
      const many = await one.getMany([A, B, C, "CA00000000000000000000000000000a99"]);
      assert.deepEqual([...many.keys()].sort(), [A, B, C]);
      assert.equal(await one.nextTryAt(), undefined);
      assert.equal(await one.get("CA00000000000000000000000000000a99"), undefined);
    });
  } finally {
    alpha.close();
    beta.close();
    await Promise.all([alpha.closed, beta.closed]);
    await factory.dispose();
  }
}
