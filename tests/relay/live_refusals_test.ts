/**
 * GPT-Live's refusals in plain words, through the fake Twilio and the GPT-Live fake over real sockets:
 * a refused key (401), no access (403), a wrong URL (404) and no quota (429) end the call with the
 * reason and no retry, so Twilio plays the fallback; so does the server ending the session (`expired`)
 * when no new one can be opened.
 */

import assert from "node:assert/strict";
import { startTestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { LIVE_PERSONA } from "./_live_call.ts";

Deno.test("GPT-Live: refusals and a session the server ends are explained in plain words", async (t) => {
  const cases: {
    name: string;
    setup: (live: import("../../testing/fake_live.ts").FakeLiveServer) => void;
    line: RegExp;
  }[] = [
    {
      name: "a refused key (401)",
      setup: (live) => live.refuseWith = 401,
      line: /reason=upstream_refused \(OpenAI refused the API key \(401\): check OPENAI_API_KEY\)/,
    },
    {
      name: "no access (403)",
      setup: (live) => live.refuseWith = 403,
      line:
        /reason=upstream_refused \(OpenAI refused access \(403\): the key's project may not have GPT-Live access\)/,
    },
    {
      name: "a wrong URL (404)",
      setup: (live) => live.refuseWith = 404,
      line: /reason=upstream_refused \(OpenAI answered 404: check the persona's model and OPENAI_LIVE_URL\)/,
    },
    {
      name: "out of quota (429)",
      setup: (live) => live.refuseWith = 429,
      line: /reason=upstream_refused \(OpenAI is rate limiting or the account is out of quota \(429\)/,
    },
  ];
  for (const { name, setup, line } of cases) {
    await t.step(name, async () => {
      await withPersonaDir({ "sam.ts": LIVE_PERSONA }, async (dir) => {
        const parley = await startTestParley({ personasDir: dir, env: { DEFAULT_PERSONA: "sam" } });
        try {
          setup(parley.live);
          const call = await parley.startCall({ persona: "sam" });
          await within(parley.waitForLog(line), name);
          await within(call.closed, "the Twilio socket closing, so the fallback plays");
          assert.equal(parley.live.handshakes.length, 1, "no retry");
        } finally {
          await parley.close();
        }
      });
    });
  }

  await t.step("the server ending the session (expired) when no new one can be opened", async () => {
    await withPersonaDir({ "sam.ts": LIVE_PERSONA }, async (dir) => {
      const parley = await startTestParley({ personasDir: dir, env: { DEFAULT_PERSONA: "sam" } });
      try {
        const call = await parley.startCall({ persona: "sam" });
        const session = await within(parley.live.session(0), "the session");
        await within(session.waitFor("session.commentary.append"), "the session started");
        // Pre-warmed on the webhook: end it once the stream has started (before, a fresh one opens).
        await within(parley.waitForLog(/Session configured/), "the stream started");
        parley.live.refuseWith = 429;
        session.closeSession("expired");
        await within(
          parley.waitForLog(
            /reason=upstream_dropped \(GPT-Live ended the session: it reached its time limit; no new session after \d+ tries/,
          ),
          "the end, in plain words",
        );
        await within(call.closed, "the Twilio socket closing");
      } finally {
        await parley.close();
      }
    });
  });
});
