/**
 * Tests of the analysis's configuration: OPENAI_BASE_URL and OPENAI_ANALYSIS_MODEL.
 *
 * @module
 */

import assert from "node:assert/strict";
import { checkConfig, loadConfig } from "../../src/config.ts";

const minimal = { OPENAI_API_KEY: "sk-test-0123456789" };

Deno.test("OPENAI_BASE_URL and OPENAI_ANALYSIS_MODEL default to OpenAI and gpt-5-mini", () => {
  const config = loadConfig(minimal);
  assert.equal(config.openaiBaseUrl, "https://api.openai.com/v1");
  assert.equal(config.analysisModel, "gpt-5-mini");
});

Deno.test("OPENAI_BASE_URL drops a trailing slash; OPENAI_ANALYSIS_MODEL is taken as set", () => {
  const config = loadConfig({
    ...minimal,
    OPENAI_BASE_URL: "http://127.0.0.1:9/v1/",
    OPENAI_ANALYSIS_MODEL: "gpt-5",
  });
  assert.equal(config.openaiBaseUrl, "http://127.0.0.1:9/v1");
  assert.equal(config.analysisModel, "gpt-5");
});

Deno.test("an OPENAI_BASE_URL that is not http(s) is refused by name", () => {
  const { problems } = checkConfig({ ...minimal, OPENAI_BASE_URL: "ftp://proxy/v1" });
  assert.deepEqual(problems, ['OPENAI_BASE_URL: "ftp://proxy/v1" is not an http:// or https:// URL']);
});
