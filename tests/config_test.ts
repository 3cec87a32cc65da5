/**
 * Configuration: defaults, every problem in one message, and deno.json's --allow-env lists matching
 * exactly the variables Parley reads.
 */

import assert from "node:assert/strict";
import { ConfigError, ENV_VARIABLES, loadConfig } from "../src/config.ts";

const minimal = { OPENAI_API_KEY: "sk-test-0123456789" };

Deno.test("config fills documented defaults", () => {
  const config = loadConfig(minimal);
  assert.equal(config.port, 4000);
  assert.equal(config.realtimeModel, "gpt-realtime-2.1");
  assert.equal(config.realtimeUrl, "wss://api.openai.com/v1/realtime");
  assert.equal(config.personasDir, "./personas");
  assert.equal(config.defaultPersona, "alex");
  assert.equal(config.dataDir, "./data");
  assert.equal(config.twilioSignatureCheck, true);
  assert.equal(config.metricsPublic, false);
  assert.equal(config.publicBaseUrl, undefined);
  assert.equal(config.twilioApiBaseUrl, "https://api.twilio.com");
});

Deno.test("config tolerates a trailing slash on PUBLIC_BASE_URL", () => {
  assert.equal(
    loadConfig({ ...minimal, PUBLIC_BASE_URL: "https://abc.ngrok-free.app/" }).publicBaseUrl,
    "https://abc.ngrok-free.app",
  );
});

Deno.test("config reports every problem at once, each naming its variable", () => {
  let error: unknown;
  try {
    loadConfig({
      PORT: "70000",
      PUBLIC_BASE_URL: "http://abc.ngrok-free.app",
      OPENAI_REALTIME_URL: "https://api.openai.com/v1/realtime",
      TWILIO_ACCOUNT_SID: "AB123",
      TWILIO_PHONE_NUMBER: "4155550100",
      TWILIO_SIGNATURE_CHECK: "maybe",
      API_TOKEN: "short",
      DEFAULT_PERSONA: "../etc",
      PRICES_JSON: '{"gpt-realtime-2.1":{"textOut":"cheap"}}',
    });
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof ConfigError);
  const variables = error.problems.map((p) => p.split(":")[0]);
  assert.deepEqual(variables, [
    "PORT",
    "PUBLIC_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_REALTIME_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_PHONE_NUMBER",
    "TWILIO_SIGNATURE_CHECK",
    "API_TOKEN",
    "DEFAULT_PERSONA",
    "PRICES_JSON",
  ]);
  assert.match(error.message, /PRICES_JSON: model "gpt-realtime-2.1": .*textOut/);
  assert.match(error.message, /OPENAI_API_KEY: not set/);
});

Deno.test("deno.json grants --allow-env for exactly the variables Parley reads", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url))).tasks;
  const expected = [...ENV_VARIABLES, "WS_NO_BUFFER_UTIL", "WS_NO_UTF_8_VALIDATE"].sort();
  for (const task of ["dev", "start", "setup-number"]) {
    const list = (tasks[task] as string).match(/--allow-env=(\S+)/)?.[1]?.split(",").sort();
    assert.deepEqual(list, expected, `task ${task}`);
    assert.ok(
      !/(^|\s)(-A|--allow-all|--allow-run|--allow-ffi)(\s|=|$)/.test(tasks[task]),
      `task ${task}: no -A/run/ffi`,
    );
  }
});

Deno.test("OPENAI_LIVE_URL defaults to GPT-Live's endpoint and refuses a query string or a non-ws URL", () => {
  assert.equal(loadConfig(minimal).liveUrl, "wss://api.openai.com/v1/live/sessions");
  assert.equal(
    loadConfig({ ...minimal, OPENAI_LIVE_URL: "ws://127.0.0.1:9/v1/live/sessions" }).liveUrl,
    "ws://127.0.0.1:9/v1/live/sessions",
  );
  assert.throws(
    () =>
      loadConfig({ ...minimal, OPENAI_LIVE_URL: "wss://proxy.example/v1/live/sessions?model=gpt-live-1" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(
        error.message,
        /OPENAI_LIVE_URL: ".*\?model=gpt-live-1" has a query string: GPT-Live refuses query parameters/,
      );
      return true;
    },
  );
  assert.throws(
    () => loadConfig({ ...minimal, OPENAI_LIVE_URL: "https://api.openai.com/v1/live/sessions" }),
    /OPENAI_LIVE_URL: "https:\/\/api.openai.com\/v1\/live\/sessions" is not a ws:\/\/ or wss:\/\/ URL/,
  );
});
