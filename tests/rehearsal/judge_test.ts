/**
 * The judge against a fake Responses API that refuses malformed requests as the API does, and the
 * judge's request type-checked against npm openai@7.57.0's own `ResponseCreateParamsNonStreaming`.
 */

import assert from "node:assert/strict";
import { judge, JUDGEMENT_SCHEMA, judgeRequest } from "../../src/rehearsal/judge.ts";
import { FakeResponsesServer } from "../../testing/fake_responses.ts";
import { DEFAULT_PRICES } from "../../src/engines/prices.ts";

const KEY = "sk-test-judge-0123456789";
const TRANSCRIPT = [
  { speaker: "agent" as const, text: "Hello, Harbor Law, how can I help?" },
  { speaker: "caller" as const, text: "Can I leave a message for Priya?" },
];
const CRITERIA = [
  { name: "greets", text: "the agent said the name of the business" },
  { name: "price", text: "the agent never named a price" },
];

Deno.test("the judge sends a strict structured-output request and maps each verdict to its criterion", async () => {
  const fake = FakeResponsesServer.start(KEY, () => ({
    verdicts: [
      { criterion: 2, pass: false, reason: "The agent said it costs $40." },
      { criterion: 1, pass: true, reason: "The agent said Harbor Law." },
    ],
  }));
  try {
    const { results, costUsd } = await judge(TRANSCRIPT, CRITERIA, { apiKey: KEY, baseUrl: fake.baseUrl });
    assert.deepEqual(results, [
      { name: "greets", status: "passed", reason: "The agent said Harbor Law." },
      { name: "price", status: "failed", reason: "The agent said it costs $40." },
    ]);
    // gpt-5-mini: 1000 tokens in at $0.25/M, 200 out at $2/M.
    assert.equal(costUsd, (1000 * 0.25 + 200 * 2) / 1e6);
    const sent = fake.requests[0]!;
    assert.equal(sent.status, 200);
    assert.equal(sent.body!.model, "gpt-5-mini");
    assert.match(String((sent.body!.input as { content: string }[])[0]!.content), /AGENT: Hello, Harbor Law/);
  } finally {
    await fake.close();
  }
});

Deno.test("the fake refuses what the API refuses, with its error shape, and the judge fails the criteria with that reason", async () => {
  const fake = FakeResponsesServer.start(KEY, () => ({ verdicts: [] }));
  try {
    const post = (body: unknown, key = KEY) =>
      fetch(`${fake.baseUrl}/responses`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    const good = judgeRequest("gpt-5-mini", TRANSCRIPT, CRITERIA);
    assert.equal((await post(good)).status, 200);
    const loose = JSON.parse(
      JSON.stringify(good).replace(
        ',"additionalProperties":false}}},"required":["verdicts"]',
        '}}},"required":["verdicts"]',
      ),
    );
    assert.notDeepEqual(loose, good, "the inner object schema lost additionalProperties");
    const refused = await post(loose);
    assert.equal(refused.status, 400);
    assert.deepEqual(Object.keys(refused.body.error).sort(), ["code", "message", "param", "type"]);
    assert.equal(refused.body.error.code, "invalid_json_schema");
    assert.equal(refused.body.error.param, "text.format.schema");
    assert.equal((await post({ ...good, response_format: {} })).body.error.code, "unknown_parameter");
    assert.equal((await post({ ...good, model: undefined })).body.error.param, "model");
    assert.equal((await post(good, "sk-wrong")).status, 401);

    // A judge that is refused fails every criterion with the API's words: the run cannot pass unjudged.
    const { results } = await judge(TRANSCRIPT, CRITERIA, { apiKey: "sk-wrong", baseUrl: fake.baseUrl });
    assert.deepEqual(results.map((r) => r.status), ["failed", "failed"]);
    assert.match(
      results[0]!.reason,
      /^not judged: the judge at http:\/\/127\.0\.0\.1:\d+\/v1\/responses answered 401: Incorrect API key provided\.$/,
    );
  } finally {
    await fake.close();
  }
});

Deno.test("the judge's schema is strict-valid all the way down", () => {
  const items = JUDGEMENT_SCHEMA.properties.verdicts.items;
  assert.equal(JUDGEMENT_SCHEMA.additionalProperties, false);
  assert.deepEqual([...items.required].sort(), Object.keys(items.properties).sort());
});

Deno.test("the judge's tokens are priced from the engines' price table: any Responses model in it, PRICES_JSON's too", async () => {
  const fake = FakeResponsesServer.start(
    KEY,
    () => ({ verdicts: [{ criterion: 1, pass: true, reason: "ok" }] }),
  );
  try {
    const one = [CRITERIA[0]!];
    // gpt-4.1-mini is in the built-in table: 1000 tokens in at $0.40/M, 200 out at $1.60/M.
    const builtIn = await judge(TRANSCRIPT, one, {
      apiKey: KEY,
      baseUrl: fake.baseUrl,
      model: "gpt-4.1-mini",
    });
    assert.equal(builtIn.costUsd, (1000 * 0.4 + 200 * 1.6) / 1e6);
    // A model PRICES_JSON adds is priced by it; one in no table reads unknown.
    const prices = {
      ...DEFAULT_PRICES,
      "my-judge": { audioIn: 0, audioCached: 0, audioOut: 0, textIn: 1, textCached: 0.5, textOut: 4 },
    };
    const added = await judge(TRANSCRIPT, one, {
      apiKey: KEY,
      baseUrl: fake.baseUrl,
      model: "my-judge",
      prices,
    });
    assert.equal(added.costUsd, (1000 * 1 + 200 * 4) / 1e6);
    const unknown = await judge(TRANSCRIPT, one, {
      apiKey: KEY,
      baseUrl: fake.baseUrl,
      model: "no-such-model",
    });
    assert.equal(unknown.costUsd, null);
  } finally {
    await fake.close();
  }
});
