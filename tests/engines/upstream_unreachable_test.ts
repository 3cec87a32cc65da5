/**
 * An OpenAI that cannot be reached (nothing listens: a closed port on 127.0.0.1) ends the call as
 * `upstream_unreachable` with a line saying where to look, on either engine; an HTTP refusal stays
 * `upstream_refused` (engines_table_test.ts).
 */

import assert from "node:assert/strict";
import { startTestParley } from "../../testing/parley_harness.ts";
import { releasePort, unsharedPort } from "../../testing/unshared_port.ts";
import { within } from "../../testing/within.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";

const CASES = [
  { name: "Realtime", model: "gpt-realtime-2.1", variable: "OPENAI_REALTIME_URL", path: "/v1/realtime" },
  { name: "GPT-Live", model: "gpt-live-1.1", variable: "OPENAI_LIVE_URL", path: "/v1/live/sessions" },
];

for (const engine of CASES) {
  Deno.test(`${engine.name}: an unreachable OpenAI ends the call as upstream_unreachable, saying where to look`, async () => {
    const persona = personaSource({ model: engine.model, voice: "marin", instructions: "Be brief." });
    await withPersonaDir({ "sam.ts": persona }, async (dir) => {
      // Nothing listens there, and no other test's server can be given it meanwhile.
      const port = unsharedPort();
      const t = await startTestParley({
        personasDir: dir,
        env: {
          DEFAULT_PERSONA: "sam",
          METRICS_PUBLIC: "on",
          [engine.variable]: `ws://127.0.0.1:${port}${engine.path}`,
        },
      });
      try {
        const ended = t.waitForEvent("call.ended");
        const call = await t.startCall({});
        await within(call.closed, "the Twilio socket closing, so the fallback plays");
        assert.equal((await ended).reason, "upstream_unreachable");
        const line = await t.waitForLog(/Call ended/);
        assert.match(
          line,
          new RegExp(
            `reason=upstream_unreachable \\(Cannot reach OpenAI at 127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED.*\\): ` +
              `check the network, DNS, proxy or firewall, and ${engine.variable}\\)`,
          ),
        );
        assert.ok(!t.logs.some((l) => /upstream_refused/.test(l.line)), "not told as a refusal");
        const metrics = await (await fetch(`${t.origin}/metrics`)).text();
        assert.match(metrics, /parley_calls_ended_total\{reason="upstream_unreachable"\} 1/);
      } finally {
        await t.close();
        releasePort(port);
      }
    });
  });
}
