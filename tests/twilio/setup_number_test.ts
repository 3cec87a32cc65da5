import assert from "node:assert/strict";
import {
  parseSetupNumberArgs,
  setupNumber,
  type SetupNumberConfig,
  SetupNumberError,
} from "../../src/twilio/setup_number.ts";
import { type FakeTwilioRest, startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";

const ACCOUNT = "AC" + "0123456789abcdef".repeat(2);
const AUTH = "twilio-auth-token-0123456789abcd";
const NUMBER = "+14155550199";
const NUMBER_SID = "PN" + "a".repeat(32);

function fakeTwilio(voiceUrl = "https://demo.twilio.com/welcome/voice/", voiceMethod = "GET") {
  return startFakeTwilioRest({
    accountSid: ACCOUNT,
    authToken: AUTH,
    numbers: [{ sid: NUMBER_SID, phoneNumber: NUMBER, voiceUrl, voiceMethod }],
  });
}

function config(twilio: FakeTwilioRest, overrides: Partial<SetupNumberConfig> = {}): SetupNumberConfig {
  return {
    twilioAccountSid: ACCOUNT,
    twilioAuthToken: AUTH,
    twilioPhoneNumber: NUMBER,
    twilioApiBaseUrl: twilio.baseUrl,
    publicBaseUrl: "https://parley.ngrok.app",
    ngrokApiUrl: "http://127.0.0.1:9",
    port: 4000,
    inboundPersona: "receptionist",
    ...overrides,
  };
}

Deno.test("setupNumber points the number's voice webhook at Parley and prints old and new", async () => {
  await using twilio = fakeTwilio();
  const printed: string[] = [];
  const result = await setupNumber({ config: config(twilio), print: (line) => printed.push(line) });

  assert.deepEqual(result, {
    sid: NUMBER_SID,
    oldUrl: "https://demo.twilio.com/welcome/voice/",
    newUrl: "https://parley.ngrok.app/api/twilio/voice-realtime",
    changed: true,
  });
  assert.equal(twilio.numbers[0]!.voiceUrl, "https://parley.ngrok.app/api/twilio/voice-realtime");
  assert.equal(twilio.numbers[0]!.voiceMethod, "POST");
  const update = twilio.requests.find((r) => r.method === "POST")!;
  assert.equal(update.path, `/2010-04-01/Accounts/${ACCOUNT}/IncomingPhoneNumbers/${NUMBER_SID}.json`);
  assert.equal(update.authorization, `Basic ${btoa(`${ACCOUNT}:${AUTH}`)}`);
  assert.deepEqual(printed, [
    `Updated ${NUMBER} (${NUMBER_SID}) voice webhook:`,
    "  old: https://demo.twilio.com/welcome/voice/ (GET)",
    "  new: https://parley.ngrok.app/api/twilio/voice-realtime (POST)",
    `Calls to ${NUMBER} will be answered by receptionist (INBOUND_PERSONA)`,
  ]);
});

Deno.test("setupNumber writes --persona into the webhook URL", async () => {
  await using twilio = fakeTwilio();
  const printed: string[] = [];
  const result = await setupNumber({
    config: config(twilio),
    persona: "alex",
    print: (l) => printed.push(l),
  });
  assert.equal(result.newUrl, "https://parley.ngrok.app/api/twilio/voice-realtime?persona=alex");
  assert.equal(
    twilio.numbers[0]!.voiceUrl,
    "https://parley.ngrok.app/api/twilio/voice-realtime?persona=alex",
  );
  assert.equal(printed.at(-1), `Calls to ${NUMBER} will be answered by alex (--persona)`);
});

Deno.test("setupNumber --dry-run shows the old and new URL and changes nothing", async () => {
  await using twilio = fakeTwilio();
  const printed: string[] = [];
  const result = await setupNumber({ config: config(twilio), dryRun: true, print: (l) => printed.push(l) });
  assert.equal(result.changed, false);
  assert.equal(twilio.requests.filter((r) => r.method === "POST").length, 0);
  assert.equal(twilio.numbers[0]!.voiceUrl, "https://demo.twilio.com/welcome/voice/");
  assert.deepEqual(printed, [
    `Dry run: would update ${NUMBER} (${NUMBER_SID}) voice webhook:`,
    "  old: https://demo.twilio.com/welcome/voice/ (GET)",
    "  new: https://parley.ngrok.app/api/twilio/voice-realtime (POST)",
    "Nothing was changed (--dry-run).",
  ]);
});

Deno.test("parseSetupNumberArgs reads --help, --dry-run and --persona and refuses anything else", () => {
  assert.deepEqual(parseSetupNumberArgs([]), { help: false, dryRun: false, persona: undefined });
  assert.deepEqual(parseSetupNumberArgs(["-h"]), { help: true, dryRun: false, persona: undefined });
  assert.deepEqual(parseSetupNumberArgs(["--persona", "alex", "--dry-run"]), {
    help: false,
    dryRun: true,
    persona: "alex",
  });
  assert.throws(() => parseSetupNumberArgs(["--force"]), /Unknown argument "--force": nothing was changed/);
  assert.throws(() => parseSetupNumberArgs(["alex"]), /Unknown argument "alex"/);
  assert.throws(() => parseSetupNumberArgs(["--persona="]), /--persona: no persona id given/);
});

Deno.test("setupNumber changes nothing when the webhook is already right", async () => {
  await using twilio = fakeTwilio("https://parley.ngrok.app/api/twilio/voice-realtime", "POST");
  const printed: string[] = [];
  const result = await setupNumber({ config: config(twilio), print: (line) => printed.push(line) });
  assert.equal(result.changed, false);
  assert.equal(twilio.requests.filter((r) => r.method === "POST").length, 0);
  assert.match(printed[0]!, /nothing to change/);
});

Deno.test("setupNumber uses the ngrok tunnel when PUBLIC_BASE_URL is unset", async () => {
  await using twilio = fakeTwilio();
  await using agent = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
    Response.json({
      tunnels: [{
        public_url: "https://tunnel.ngrok-free.app",
        proto: "https",
        config: { addr: "http://localhost:4000" },
      }],
    }));
  const printed: string[] = [];
  const result = await setupNumber({
    config: config(twilio, { publicBaseUrl: undefined, ngrokApiUrl: `http://127.0.0.1:${agent.addr.port}` }),
    print: (line) => printed.push(line),
  });
  assert.equal(result.newUrl, "https://tunnel.ngrok-free.app/api/twilio/voice-realtime");
  assert.equal(twilio.numbers[0]!.voiceUrl, "https://tunnel.ngrok-free.app/api/twilio/voice-realtime");
  assert.match(printed[0]!, /Using the ngrok tunnel https:\/\/tunnel\.ngrok-free\.app/);
});

Deno.test("setupNumber fails with a message that says what to fix", async (t) => {
  await using twilio = fakeTwilio();
  const fails = async (overrides: Partial<SetupNumberConfig>, message: RegExp) => {
    await assert.rejects(
      setupNumber({ config: config(twilio, overrides), print: () => {} }),
      (error: unknown) => {
        assert.ok(error instanceof SetupNumberError);
        assert.match(error.message, message);
        assert.ok(!error.message.includes(AUTH), "the message must not print the token");
        return true;
      },
    );
  };

  await t.step("missing credentials", () =>
    fails(
      { twilioAccountSid: undefined, twilioAuthToken: undefined },
      /TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN not set: put them in \.env/,
    ));
  await t.step(
    "missing number",
    () => fails({ twilioPhoneNumber: undefined }, /TWILIO_PHONE_NUMBER not set/),
  );
  await t.step(
    "number not on the account",
    () =>
      fails(
        { twilioPhoneNumber: "+14155550123" },
        /TWILIO_PHONE_NUMBER "\+14155550123" is not a number on account AC/,
      ),
  );
  await t.step("wrong token", () =>
    fails(
      { twilioAuthToken: "not-the-right-token-000000000000" },
      /refused the credentials \(code 20003\): check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN/,
    ));
  await t.step("no PUBLIC_BASE_URL and no ngrok", async () => {
    const closed = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response());
    const ngrokApiUrl = `http://127.0.0.1:${closed.addr.port}`;
    await closed.shutdown();
    await fails(
      { publicBaseUrl: undefined, ngrokApiUrl },
      /PUBLIC_BASE_URL is not set and no ngrok agent answers/,
    );
  });
  await t.step("Twilio unreachable", async () => {
    const closed = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response());
    const twilioApiBaseUrl = `http://127.0.0.1:${closed.addr.port}`;
    await closed.shutdown();
    await fails({ twilioApiBaseUrl }, /Cannot reach Twilio at http:\/\/127\.0\.0\.1:\d+/);
  });
  assert.equal(twilio.numbers[0]!.voiceUrl, "https://demo.twilio.com/welcome/voice/", "nothing may change");
});

const REPO = new URL("../../", import.meta.url).pathname;

/**
 * Runs `deno task setup-number <args>` as the task does (its flags, from deno.json), with `env` as
 * its whole environment, read from an env file the test writes instead of the user's `.env`.
 */
async function runTask(args: string[], env: Record<string, string>) {
  const task: string = JSON.parse(await Deno.readTextFile(`${REPO}deno.json`)).tasks["setup-number"];
  const words = task.split(/\s+/);
  const script = words.indexOf("src/twilio/setup_number.ts");
  assert.ok(script > 2 && words.includes("--env-file=.env"));
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/.env`,
    Object.entries(env).map(([k, v]) => `${k}=${JSON.stringify(v)}\n`).join(""),
  );
  const flags = words.slice(2, script).map((f) => f === "--env-file=.env" ? `--env-file=${dir}/.env` : f);
  const home = Deno.env.get("HOME");
  const denoDir = Deno.env.get("DENO_DIR");
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, "src/twilio/setup_number.ts", ...args],
      cwd: REPO,
      clearEnv: true,
      env: {
        NO_COLOR: "1",
        ...(home === undefined ? {} : { HOME: home }),
        ...(denoDir === undefined ? {} : { DENO_DIR: denoDir }),
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("deno task setup-number: task permissions, arguments, exit codes", async (t) => {
  await using twilio = fakeTwilio();
  const env = {
    TWILIO_ACCOUNT_SID: ACCOUNT,
    TWILIO_AUTH_TOKEN: AUTH,
    TWILIO_PHONE_NUMBER: NUMBER,
    TWILIO_API_BASE_URL: twilio.baseUrl,
    PUBLIC_BASE_URL: "https://parley.ngrok.app",
    PERSONAS_DIR: `${REPO}tests/testdata/personas`,
  };
  const updates = () => twilio.requests.filter((r) => r.method === "POST").length;

  await t.step("--help prints the usage and touches nothing", async () => {
    const result = await runTask(["--help"], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Usage: deno task setup-number \[--persona=<id>\] \[--dry-run\]/);
    assert.equal(twilio.requests.length, 0, "not even a lookup");
  });

  await t.step("an unknown argument is refused and touches nothing", async () => {
    const result = await runTask(["--yes"], env);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Unknown argument "--yes": nothing was changed/);
    assert.equal(twilio.requests.length, 0);
  });

  await t.step("--persona naming no persona is refused and touches nothing", async () => {
    const result = await runTask(["--persona=nobody"], env);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /--persona: "nobody" names no persona in .*: nothing was changed; use one of alex, quiet, tester/,
    );
    assert.equal(twilio.requests.length, 0);
  });

  await t.step("--dry-run shows old and new and changes nothing", async () => {
    const result = await runTask(["--dry-run", "--persona=tester"], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /new: https:\/\/parley\.ngrok\.app\/api\/twilio\/voice-realtime\?persona=tester \(POST\)/,
    );
    assert.equal(updates(), 0);
  });

  await t.step("updates the number (OPENAI_API_KEY not needed)", async () => {
    const result = await runTask(["--persona=tester"], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /new: https:\/\/parley\.ngrok\.app\/api\/twilio\/voice-realtime\?persona=tester \(POST\)/,
    );
    assert.equal(updates(), 1);
  });

  await t.step("exits 1 naming the missing credentials", async () => {
    const result = await runTask([], {
      TWILIO_PHONE_NUMBER: NUMBER,
      PUBLIC_BASE_URL: "https://parley.ngrok.app",
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN not set/);
  });
});
