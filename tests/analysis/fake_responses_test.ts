/**
 * The fake Responses API refuses a malformed request as the API does, takes the request Parley
 * builds (with every shipped persona's schema), and scripts 429s before answering.
 *
 * @module
 */

import assert from "node:assert/strict";
import { buildAnalysisRequest } from "../../src/analysis/request.ts";
import { loadPersonas } from "../../src/personas/loader.ts";
import { FakeResponsesServer } from "../../testing/fake_responses.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { shippedPersonas } from "../personas/_shipped.ts";

const KEY = "sk-test-responses-0123456789";
const CALL = {
  callSid: "CA00000000000000000000000000000f01",
  persona: "alex",
  direction: "outbound-api",
  from: "+14155550100",
  to: "+14155550111",
  parameters: { persona: "alex", lead: "Dana" },
  startedAt: 1_000,
  endedAt: 61_000,
  durationMs: 60_000,
  endReason: "caller_hung_up" as const,
  transcript: [
    {
      at: 2_000,
      speaker: "agent" as const,
      text: "Hi Dana, it's Alex.",
      interruptedAtMs: null,
      spokenAt: null,
    },
    {
      at: 5_000,
      speaker: "caller" as const,
      text: "Please don't call me again.",
      interruptedAtMs: null,
      spokenAt: null,
    },
  ],
  toolCalls: [],
};

async function post(fake: FakeResponsesServer, body: unknown) {
  const response = await fetch(`${fake.baseUrl}/responses`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

Deno.test("the fake refuses malformed requests with the API's error shape", async () => {
  const fake = FakeResponsesServer.start(KEY, () => ({}));
  try {
    const unknown = await post(fake, { model: "gpt-5-mini", input: "x", response_format: {} });
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.body.error, {
      message: "Unknown parameter: 'response_format'.",
      type: "invalid_request_error",
      param: "response_format",
      code: "unknown_parameter",
    });
    const strict = await post(fake, {
      model: "gpt-5-mini",
      input: "x",
      text: {
        format: {
          type: "json_schema",
          name: "call_outcome",
          strict: true,
          schema: { type: "object", properties: { a: { type: "string" } }, additionalProperties: false },
        },
      },
    });
    assert.equal(strict.status, 400);
    assert.equal(strict.body.error.code, "invalid_json_schema");
    assert.match(strict.body.error.message, /Missing 'a'/);
    const noModel = await post(fake, { input: "x" });
    assert.equal(noModel.body.error.param, "model");
  } finally {
    await fake.close();
  }
});

Deno.test("the fake takes the request Parley builds for each shipped persona's schema", async () => {
  const { sources } = await shippedPersonas();
  const fake = FakeResponsesServer.start(KEY, () => ({}));
  try {
    await withPersonaDir(sources, async (dir) => {
      const personas = await loadPersonas(dir);
      const withAnalysis = [...personas.values()].filter((p) => p.persona.analysis !== undefined);
      // Shipped files the user edited are left out (shippedPersonas): check those still as shipped.
      for (const id of ["alex", "receptionist"].filter((id) => sources[`${id}.ts`] !== undefined)) {
        assert.ok(withAnalysis.some((p) => p.id === id), `${id} declares an analysis`);
      }
      for (const loaded of withAnalysis) {
        const analysis = loaded.persona.analysis!;
        const request = buildAnalysisRequest({
          persona: loaded.id,
          model: "gpt-5-mini",
          schema: analysis.schema,
          instructions: analysis.instructions ?? null,
        }, CALL);
        const answer = await post(fake, request);
        assert.equal(answer.status, 200, `${loaded.id}: ${JSON.stringify(answer.body)}`);
      }
    });
  } finally {
    await fake.close();
  }
});

Deno.test("the fake answers scripted 429s (with retry-after-ms) before the judgement", async () => {
  const fake = FakeResponsesServer.start(KEY, () => ({ ok: true }), {
    failures: [{ status: 429, retryAfterMs: 250 }, { status: 429 }],
  });
  try {
    const body = { model: "gpt-5-mini", input: "x" };
    const first = await post(fake, body);
    assert.equal(first.status, 429);
    assert.equal(first.headers.get("retry-after-ms"), "250");
    assert.equal(first.body.error.code, "rate_limit_exceeded");
    assert.equal((await post(fake, body)).status, 429);
    const third = await post(fake, body);
    assert.equal(third.status, 200);
    assert.equal(third.body.output[0].content[0].text, '{"ok":true}');
  } finally {
    await fake.close();
  }
});
