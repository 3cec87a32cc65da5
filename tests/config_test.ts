/**
 * Configuration: defaults, every problem in one message, and deno.json's --allow-env lists matching
 * exactly the variables Parley reads.
 */

import assert from "node:assert/strict";
import { ConfigError, configSecrets, loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { DRIVER_ENV_VARIABLES, type Env, ENV_VARIABLES } from "../src/config_env.ts";
import { ENGINE_DEFINITIONS } from "../src/engines/registry.ts";

const minimal = { OPENAI_API_KEY: "sk-test-0123456789" };

Deno.test("config fills documented defaults", () => {
  const config = loadConfig(minimal);
  assert.equal(config.port, 4000);
  assert.equal(config.host, "0.0.0.0");
  assert.equal(config.realtimeModel, "gpt-realtime-2.1");
  assert.equal(config.realtimeUrl, "wss://api.openai.com/v1/realtime");
  assert.equal(config.personasDir, "./personas");
  assert.equal(config.defaultPersona, "alex");
  assert.equal(config.inboundPersona, "receptionist");
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
    // The server reads the Postgres driver's few variables too (setup-number opens no store).
    const wanted = task === "setup-number" ? expected : [...expected, ...DRIVER_ENV_VARIABLES].sort();
    const list = (tasks[task] as string).match(/--allow-env=(\S+)/)?.[1]?.split(",").sort();
    assert.deepEqual(list, wanted, `task ${task}`);
    assert.ok(
      !/(^|\s)(-A|--allow-all|--allow-run|--allow-ffi)(\s|=|$)/.test(tasks[task]),
      `task ${task}: no -A/run/ffi`,
    );
  }
});

/** The variables `.env.example` sets, commented-out examples included, as `.env` would after uncommenting. */
async function exampleEnv(): Promise<{ set: Env; commented: Env }> {
  const text = await Deno.readTextFile(new URL("../.env.example", import.meta.url));
  const set: Env = {};
  const commented: Env = {};
  for (const line of text.split("\n")) {
    const match = /^(#\s*)?([A-Z_]+)=(\S*)$/.exec(line.trim());
    if (match === null) continue;
    (match[1] === undefined ? set : commented)[match[2] as keyof Env] = match[3]!;
  }
  return { set, commented };
}

Deno.test("config names every variable that still holds .env.example's placeholder", async () => {
  const { set, commented } = await exampleEnv();
  let error: unknown;
  try {
    loadConfig({ ...set, PUBLIC_BASE_URL: commented.PUBLIC_BASE_URL! });
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof ConfigError);
  const placeholders = error.problems.filter((p) => p.includes("is the example value from .env.example"));
  assert.deepEqual(placeholders.map((p) => p.split(":")[0]), [
    "OPENAI_API_KEY",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_PHONE_NUMBER",
    "PUBLIC_BASE_URL",
  ]);
  // Every other commented example is a default, which is fine to uncomment as it is.
  const { PUBLIC_BASE_URL: _, ...defaults } = commented;
  assert.doesNotThrow(() => loadConfig({ ...minimal, ...defaults }));
});

Deno.test("config rejects an INBOUND_PERSONA that is not a persona id", () => {
  assert.throws(
    () => loadConfig({ ...minimal, INBOUND_PERSONA: "front desk" }),
    /INBOUND_PERSONA: "front desk" is not a persona id/,
  );
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

Deno.test("SESSION_ROLLOVER_MINUTES defaults to 55 and must stay under OpenAI's 60-minute cap", () => {
  assert.equal(loadConfig(minimal).sessionRolloverMinutes, 55);
  assert.equal(loadConfig({ ...minimal, SESSION_ROLLOVER_MINUTES: "50.5" }).sessionRolloverMinutes, 50.5);
  for (const bad of ["0", "60", "-5", "soon"]) {
    assert.throws(
      () => loadConfig({ ...minimal, SESSION_ROLLOVER_MINUTES: bad }),
      new RegExp(`SESSION_ROLLOVER_MINUTES: "${bad}" is not a number of minutes above 0 and below 60`),
    );
  }
});

Deno.test("config refuses an OPENAI_REALTIME_MODEL that no engine serves, naming the accepted prefixes", () => {
  let error: unknown;
  try {
    loadConfig({ OPENAI_API_KEY: "sk-test-0123456789", OPENAI_REALTIME_MODEL: "gpt-4o-mini" });
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof ConfigError);
  assert.deepEqual(error.problems, [
    'OPENAI_REALTIME_MODEL: "gpt-4o-mini" is not a model of any engine; use a name starting with ' +
    'gpt-realtime (Realtime, e.g. "gpt-realtime") or gpt-live (GPT-Live, e.g. "gpt-live-1.1")',
  ]);
  for (const model of ["gpt-realtime-2.1", "gpt-live-1.1"]) {
    assert.equal(
      loadConfig({ OPENAI_API_KEY: "sk-test-0123456789", OPENAI_REALTIME_MODEL: model }).realtimeModel,
      model,
    );
  }
});

Deno.test("DATABASE_URL selects Postgres; INSTANCE_ID then defaults to the host name plus a random suffix", () => {
  assert.equal(loadConfig(minimal).databaseUrl, undefined, "unset: SQLite in DATA_DIR");
  const url = "postgres://parley:s3cret@db.internal:5432/parley";
  const first = loadConfig({ ...minimal, DATABASE_URL: url });
  const second = loadConfig({ ...minimal, DATABASE_URL: url });
  assert.equal(first.databaseUrl, url);
  const host = Deno.hostname().replace(/[^A-Za-z0-9._-]/g, "-");
  assert.match(first.instanceId, new RegExp(`^${host.replace(/[.]/g, "\\.")}-[0-9a-f]{8}$`));
  assert.notEqual(first.instanceId, second.instanceId, "two instances on one host get two names");
  assert.equal(loadConfig({ ...minimal, DATABASE_URL: url, INSTANCE_ID: "db-1" }).instanceId, "db-1");
  assert.throws(
    () => loadConfig({ ...minimal, DATABASE_URL: "mysql://parley:s3cret@db/parley" }),
    ConfigError,
  );
  assert.throws(
    () => loadConfig({ ...minimal, DATABASE_URL: "postgres://db.internal/parley" }),
    /DATABASE_URL: .* is not a Postgres URL: use postgres:\/\/user:password@host/,
  );
  assert.throws(
    () => loadConfig({ ...minimal, DATABASE_URL: "postgres://parley:s3cret@db.internal:5432/parley?x=\x01" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      const problem = error.problems.find((p) => p.startsWith("DATABASE_URL:"));
      assert.ok(problem?.includes("is not a Postgres URL"), String(problem));
      assert.ok(!problem!.includes("s3cret"), "the password is never shown");
      assert.ok(problem!.includes('"postgres://***@db.internal:5432/parley?x=?"'), String(problem));
      return true;
    },
  );
  // A generated password with "/" or "@", or a URL missing its "//", still never shows its password.
  for (
    const [url, shown] of [
      ["postgres://parley:Xy/9+ab@db.intérnal/parley", '"postgres://***@db.int?rnal/parley"'],
      ["postgres://parley:Xy@9 ab@db.internal/parley", '"postgres://***@db.internal/parley"'],
      ["postgres:/parley:Xy9ab-secret@db.internal/parley", '"postgres:/***@db.internal/parley"'],
    ] as [string, string][]
  ) {
    assert.throws(() => loadConfig({ ...minimal, DATABASE_URL: url }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      const problem = error.problems.find((p) => p.startsWith("DATABASE_URL:"))!;
      assert.ok(!/Xy|9ab/.test(error.message), error.message);
      assert.ok(problem.includes(shown), problem);
      return true;
    });
  }
});

Deno.test("a DATABASE_URL password no URL parser reads (an unencoded #, ? or /) is still never printed", async () => {
  const PASSWORD = "Xy#9secretPW";
  const url = `postgres://parley:${PASSWORD}@127.0.0.1:1/parley`;
  const config = loadConfig({ ...minimal, DATABASE_URL: url });
  // The logger masks it wherever it appears.
  const lines: string[] = [];
  const log = createLogger({ secrets: configSecrets(config), sink: (_level, line) => lines.push(line) });
  log.error(`driver said: ${url}`);
  assert.ok(!lines[0]!.includes("9secretPW"), lines[0]!);
  // And the store's own error leaves it out (the driver cannot parse the URL, and quotes it).
  const { openPostgresStore } = await import("../src/store/postgres/store.ts");
  await assert.rejects(openPostgresStore(url, { instance: "test", onError: () => {} }), (error: Error) => {
    assert.match(error.message, /^DATABASE_URL: cannot use /);
    assert.ok(!error.message.includes("9secretPW"), error.message);
    return true;
  });
});

Deno.test("INSTANCE_ID defaults to the host name and must be a plain name", () => {
  assert.equal(loadConfig(minimal).instanceId, Deno.hostname().replace(/[^A-Za-z0-9._-]/g, "-"));
  assert.equal(loadConfig({ ...minimal, INSTANCE_ID: "parley-2.eu_west" }).instanceId, "parley-2.eu_west");
  const cases: [string, string][] = [
    ["two words", '"two words"'],
    ["x".repeat(101), `"${"x".repeat(100)}"`],
    ["line\nbreak", '"line?break"'],
  ];
  for (const [bad, shown] of cases) {
    assert.throws(
      () => loadConfig({ ...minimal, INSTANCE_ID: bad }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.ok(
          error.message.includes(`INSTANCE_ID: ${shown} is not a name: use 1 to 100 letters, digits`),
          error.message,
        );
        return true;
      },
    );
  }
});

Deno.test("HOST: an address to listen on, checked by name", () => {
  assert.equal(loadConfig({ ...minimal, HOST: "127.0.0.1" }).host, "127.0.0.1");
  assert.equal(loadConfig({ ...minimal, HOST: "::" }).host, "::");
  assert.equal(loadConfig({ ...minimal, HOST: "localhost" }).host, "localhost");
  for (const bad of ["300.1.1.1", "http://0.0.0.0", "0.0.0.0:4000x", "a host"]) {
    assert.throws(
      () => loadConfig({ ...minimal, HOST: bad }),
      (error: ConfigError) => error.problems.some((p) => p.startsWith(`HOST: "${bad}" is not an address`)),
      bad,
    );
  }
});

Deno.test("WEBHOOK_URL and WEBHOOK_SECRET: both or neither, https (or http on this machine), a whsec_ secret", () => {
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwC8ZbS0Ua4nA=";
  assert.equal(loadConfig(minimal).webhook, undefined, "off by default");
  assert.deepEqual(
    loadConfig({ ...minimal, WEBHOOK_URL: "https://crm.example/hooks", WEBHOOK_SECRET: secret }).webhook,
    {
      url: "https://crm.example/hooks",
      secret,
    },
  );
  assert.equal(
    loadConfig({ ...minimal, WEBHOOK_URL: "http://127.0.0.1:9000/h", WEBHOOK_SECRET: secret }).webhook?.url,
    "http://127.0.0.1:9000/h",
  );
  const cases: [Env, string][] = [
    [{ WEBHOOK_URL: "https://crm.example/hooks" }, "WEBHOOK_SECRET: not set, but WEBHOOK_URL is"],
    [{ WEBHOOK_SECRET: secret }, "WEBHOOK_URL: not set, but WEBHOOK_SECRET is"],
    [
      { WEBHOOK_URL: "http://crm.example/hooks", WEBHOOK_SECRET: secret },
      'WEBHOOK_URL: "http://crm.example/hooks" is not https',
    ],
    [{ WEBHOOK_URL: "not a url", WEBHOOK_SECRET: secret }, 'WEBHOOK_URL: "not a url" is not a URL'],
    [
      { WEBHOOK_URL: "https://u:p@crm.example/", WEBHOOK_SECRET: secret },
      "WEBHOOK_URL: has a user name or password",
    ],
    [
      { WEBHOOK_URL: "https://crm.example/", WEBHOOK_SECRET: "hunter2hunter2" },
      "WEBHOOK_SECRET: does not start with whsec_",
    ],
    [
      { WEBHOOK_URL: "https://crm.example/", WEBHOOK_SECRET: "whsec_not*base64" },
      "WEBHOOK_SECRET: is not whsec_ followed by base64",
    ],
    [
      { WEBHOOK_URL: "https://crm.example/", WEBHOOK_SECRET: "whsec_c2hvcnQ=" },
      "WEBHOOK_SECRET: holds 5 bytes",
    ],
  ];
  for (const [env, expected] of cases) {
    assert.throws(
      () => loadConfig({ ...minimal, ...env }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.ok(error.message.includes(expected), error.message);
        for (const value of ["hunter2hunter2", "not*base64", "c2hvcnQ=", secret]) {
          assert.ok(!error.message.includes(value), "the secret is never echoed");
        }
        return true;
      },
    );
  }
});

Deno.test("config reads each engine's endpoint from the variable its definition names", () => {
  assert.deepEqual(loadConfig(minimal).engineEndpoints, {
    realtime: "wss://api.openai.com/v1/realtime",
    live: "wss://api.openai.com/v1/live/sessions",
  });
  const config = loadConfig({
    ...minimal,
    OPENAI_REALTIME_URL: "ws://127.0.0.1:9/v1/realtime",
    OPENAI_LIVE_URL: "ws://127.0.0.1:9/v1/live",
  });
  assert.deepEqual(config.engineEndpoints, {
    realtime: "ws://127.0.0.1:9/v1/realtime",
    live: "ws://127.0.0.1:9/v1/live",
  });
  // Every engine's variable is one Parley reads (and deno.json allows).
  for (const { endpoint } of ENGINE_DEFINITIONS) {
    assert.ok((ENV_VARIABLES as readonly string[]).includes(endpoint.variable), endpoint.variable);
  }
});

Deno.test("OTEL_DENO is read as Deno reads it: true or false, any case; another value is a problem", () => {
  assert.equal(loadConfig({ ...minimal }).tracing, false);
  assert.equal(loadConfig({ ...minimal, OTEL_DENO: "TRUE" }).tracing, true);
  assert.equal(loadConfig({ ...minimal, OTEL_DENO: "false" }).tracing, false);
  // Deno leaves its OpenTelemetry off for "1": Parley's spans would go nowhere.
  assert.throws(
    () => loadConfig({ ...minimal, OTEL_DENO: "1" }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.problems.join("\n") ===
        'OTEL_DENO: "1" is not true or false (Deno reads only those, and leaves OpenTelemetry off for any other value)',
  );
});

Deno.test("configSecrets: every secret the configuration holds is masked in the log, DATABASE_URL's password as written and decoded", () => {
  const webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwC8ZbS0Ua4nA=";
  const config = loadConfig({
    ...minimal,
    TWILIO_AUTH_TOKEN: "twilio-auth-token-0123",
    API_TOKEN: "api-token-0123456789abcdef",
    WEBHOOK_URL: "https://hooks.example.com/parley",
    WEBHOOK_SECRET: webhookSecret,
    DATABASE_URL: "postgres://parley:p%40ss-w0rd-123@db.example.com:5432/parley",
  });
  const lines: string[] = [];
  const log = createLogger({ secrets: configSecrets(config), sink: (_level, line) => lines.push(line) });
  log.error(
    `${config.openaiApiKey} twilio-auth-token-0123 api-token-0123456789abcdef ${webhookSecret} ` +
      "p%40ss-w0rd-123 p@ss-w0rd-123",
  );
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.match(/\[redacted\]/g)?.length, 6, lines[0]!);
  for (const secret of ["sk-test", "twilio-auth", "api-token", "whsec_", "w0rd"]) {
    assert.ok(!lines[0]!.includes(secret), `${secret} reached the log: ${lines[0]}`);
  }
});

Deno.test("a secret pasted into the wrong variable is never printed by the problem that quotes it", () => {
  const token = "0123456789abcdef0123456789abcdef";
  const key = "sk-proj-abcdefghijklmnopqrstuvwxyz";
  let error: unknown;
  try {
    loadConfig({
      ...minimal,
      OPENAI_API_KEY: key,
      TWILIO_AUTH_TOKEN: token,
      TWILIO_ACCOUNT_SID: token, // the two Twilio values swapped
      TWILIO_PHONE_NUMBER: key, // a key pasted on the wrong line
    });
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof ConfigError);
  assert.doesNotMatch(error.message, new RegExp(`${token}|${key}`));
  assert.match(
    error.message,
    /TWILIO_ACCOUNT_SID: "\[the value of TWILIO_AUTH_TOKEN\]" is not an account SID/,
  );
  assert.match(
    error.message,
    /TWILIO_PHONE_NUMBER: "\[the value of OPENAI_API_KEY\]" is not an E\.164 number/,
  );
});

Deno.test("DRAIN_TIMEOUT_S above the longest timer (2147483 s) is refused, naming the maximum", () => {
  assert.equal(loadConfig(minimal).drainTimeoutS, 600);
  assert.equal(loadConfig({ ...minimal, DRAIN_TIMEOUT_S: "2147483" }).drainTimeoutS, 2147483);
  // 30 days "to mean practically forever": a timer that long fires after 1 ms, ending every call at once.
  for (const long of ["2147484", "2592000", "9007199254740991"]) {
    let error: unknown;
    try {
      loadConfig({ ...minimal, DRAIN_TIMEOUT_S: long });
    } catch (caught) {
      error = caught;
    }
    assert.ok(error instanceof ConfigError, `DRAIN_TIMEOUT_S=${long} is refused`);
    assert.deepEqual(error.problems, [
      `DRAIN_TIMEOUT_S: "${long}" is longer than a timer can wait: use at most 2147483 seconds ` +
      "(about 24 days; default 600)",
    ]);
  }
});
