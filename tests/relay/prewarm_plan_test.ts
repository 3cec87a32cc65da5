/**
 * When a pre-warmed call is planned (its persona's instructions run): once, on the voice webhook, and
 * `start` carries that plan to the pre-warmed session; again at `start`, on a fresh session, when the
 * instructions name the StreamSid, which only `start` brings.
 */

import assert from "node:assert/strict";
import { newCallSid, startTestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { scrape } from "./_prewarm.ts";

/** A persona whose instructions count how often a call is planned (`globalThis.parleyPlansOf[name]`). */
function countingPersona(name: string, instructions: string): string {
  return `export default {
  model: "gpt-realtime-2.1",
  voice: "marin",
  greeting: "Greet the caller.",
  instructions: (context: { parameters: Record<string, string>; streamSid: string }) => {
    const counts = ((globalThis as Record<string, unknown>).parleyPlansOf ??= {}) as Record<string, number>;
    counts[${JSON.stringify(name)}] = (counts[${JSON.stringify(name)}] ?? 0) + 1;
    return \`${instructions}\`;
  },
};
`;
}

function plansOf(name: string): number {
  return ((globalThis as Record<string, unknown>).parleyPlansOf as Record<string, number> | undefined)
    ?.[name] ??
    0;
}

Deno.test("a pre-warmed call is planned once, on the webhook: start carries that plan to the session", async () => {
  const name = `once${crypto.randomUUID().slice(0, 8)}`;
  await withPersonaDir({
    [`${name}.ts`]: countingPersona(name, "Be brief. Lead: ${context.parameters.lead}."),
  }, async (dir) => {
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: name, INBOUND_PERSONA: name, METRICS_PUBLIC: "on" },
    });
    try {
      const callSid = newCallSid();
      const streamUrl = await t.answerWebhook(callSid, "lead=Dana");
      const session = await within(t.upstream.session(0), "the pre-warmed session");
      const update = await within(session.waitFor("session.update"), "its configuration");
      assert.equal(plansOf(name), 1, "planned on the webhook");
      const call = await t.connectStream(streamUrl, callSid);
      call.start({ persona: name, lead: "Dana" });
      await within(t.waitForEvent("call.started"), "the call's start");
      assert.equal(plansOf(name), 1, "not planned again at start");
      assert.match(await scrape(t), /^parley_prewarm_total\{outcome="claimed"\} 1$/m);
      assert.equal(t.upstream.sessions.length, 1, "no second session");
      assert.match(JSON.stringify(update), /Lead: Dana\./);
      call.stop();
      await within(t.waitForLog(/Call ended/), "the end");
    } finally {
      await t.close();
    }
  });
});

Deno.test("instructions that name the StreamSid are planned again at start, on a fresh session", async () => {
  const name = `sid${crypto.randomUUID().slice(0, 8)}`;
  await withPersonaDir(
    { [`${name}.ts`]: countingPersona(name, "Be brief. Stream: ${context.streamSid}.") },
    async (dir) => {
      const t = await startTestParley({
        personasDir: dir,
        env: { DEFAULT_PERSONA: name, INBOUND_PERSONA: name, METRICS_PUBLIC: "on" },
      });
      try {
        const callSid = newCallSid();
        const streamUrl = await t.answerWebhook(callSid);
        await within(t.upstream.session(0), "the pre-warmed session");
        const call = await t.connectStream(streamUrl, callSid);
        call.start({ persona: name });
        const fresh = await within(t.upstream.session(1), "the fresh session");
        const update = await within(fresh.waitFor("session.update"), "its configuration");
        assert.equal(plansOf(name), 2, "planned on the webhook, and again at start");
        assert.match(JSON.stringify(update), new RegExp(`Stream: ${call.streamSid}\\.`));
        assert.match(await scrape(t), /^parley_prewarm_total\{outcome="discarded"\} 1$/m);
        call.stop();
        await within(t.waitForLog(/Call ended/), "the end");
      } finally {
        await t.close();
      }
    },
  );
});
