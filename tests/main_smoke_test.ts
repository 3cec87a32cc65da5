/**
 * Runs `main.ts` as a subprocess with the exact permission flags of `deno task start`, and relays a
 * call through it: a missing permission fails here, not in a user's terminal.
 */

import assert from "node:assert/strict";
import { FakeRealtimeServer, toneBytes } from "../testing/fake_realtime.ts";
import { placeTwilioCall, REPO, spawnParley, TEST_PERSONAS_DIR } from "../testing/parley_process.ts";

Deno.test("main.ts starts with the start task's permissions, relays a call and stops on SIGTERM", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const authToken = "smoke-auth-token-0123456789";
  const parley = await spawnParley("start", {
    PORT: "0",
    PUBLIC_BASE_URL: "https://parley.test/",
    OPENAI_API_KEY: "sk-smoke-test-key-0123456789",
    OPENAI_REALTIME_URL: upstream.url,
    TWILIO_AUTH_TOKEN: authToken,
    API_TOKEN: "smoke-api-token-0123456789",
    PERSONAS_DIR: TEST_PERSONAS_DIR,
    DEFAULT_PERSONA: "tester",
    INBOUND_PERSONA: "quiet",
    DATA_DIR: dataDir,
  });
  const { child, stdout, stderr } = parley;
  try {
    const listening = await Promise.race([
      stdout.waitFor(/Parley listening on/),
      child.status.then(() => {
        throw new Error(`Parley exited:\n${stderr.lines.join("\n")}\n${stdout.lines.join("\n")}`);
      }),
    ]);
    const port = Number(listening.match(/localhost:(\d+)/)![1]);
    await stdout.waitFor(/Call records:/);
    assert.ok(stdout.lines.some((l) => l.includes("https://parley.test/api/twilio/voice-realtime")));
    assert.ok(stdout.lines.some((l) => l.includes("wss://parley.test/twilio-realtime-voice")));
    assert.ok(
      stdout.lines.some((l) => /Personas from .*: alex, quiet \(inbound\), tester \(outbound\)/.test(l)),
    );

    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.deepEqual(await health.json(), { status: "ok", activeCalls: 0 });

    const call = await placeTwilioCall({ port, authToken, publicBaseUrl: "https://parley.test" }, {
      persona: "tester",
      lead: "Dana",
    });
    call.start({ persona: "tester", lead: "Dana" });
    const session = await upstream.session(0);
    const update = await session.waitFor("session.update");
    assert.equal(update.session.audio.output.voice, "coral");
    assert.match(update.session.instructions, /Lead: Dana/);
    await session.waitFor("response.create");
    await session.streamResponse({ responseId: "r1", itemId: "i1", audio: toneBytes(200, 7) });
    await call.waitFor("media");
    call.stop();
    await session.closed;
    await stdout.waitFor(/Call ended: CallSid=.* reason=caller_hung_up/);

    const records = await fetch(`http://127.0.0.1:${port}/api/calls`, {
      headers: { authorization: "Bearer smoke-api-token-0123456789" },
    });
    assert.equal(records.status, 200);
    const body = await records.json();
    assert.equal(JSON.stringify(body).includes(call.callSid), true, "the call was recorded");

    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    assert.ok(!stderr.lines.some((l) => /NotCapable|Requires .* access/.test(l)), stderr.lines.join("\n"));
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await parley.finished();
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("main.ts reports every configuration, persona and data folder problem in one message", async () => {
  const personasDir = await Deno.makeTempDir();
  const notAFolder = await Deno.makeTempFile();
  try {
    await Deno.copyFile(`${TEST_PERSONAS_DIR}/tester.ts`, `${personasDir}/tester.ts`);
    await Deno.writeTextFile(
      `${personasDir}/broken.ts`,
      'export default { voice: "nova", instructions: "Hi" };\n',
    );
    const example = await Deno.readTextFile(`${REPO}.env.example`);
    const env = Object.fromEntries(
      example.split("\n").map((line) => /^([A-Z_]+)=(.*)$/.exec(line)).filter((m) => m !== null)
        .map((m) => [m[1]!, m[2]!]),
    );
    const { code, stderr } = await (await spawnParley("start", {
      ...env, // .env copied from .env.example, unedited
      PORT: "eighty",
      API_TOKEN: "short",
      DEFAULT_PERSONA: "nobody",
      PERSONAS_DIR: personasDir,
      DATA_DIR: `${notAFolder}/data`,
      NGROK_API_URL: "http://127.0.0.1:9",
    })).finished();
    assert.equal(code, 1);
    assert.equal(stderr.split("❌").length - 1, 1, `one message:\n${stderr}`);
    assert.match(stderr, /Parley cannot start: 9 problems/);
    for (
      const expected of [
        /OPENAI_API_KEY: "sk-\.\.\." is the example value from \.env\.example/,
        /TWILIO_ACCOUNT_SID: "AC0+" is the example value/,
        /TWILIO_PHONE_NUMBER: "\+14155550100" is the example value/,
        /PORT: "eighty" is not a port number/,
        /API_TOKEN: shorter than 16 characters/,
        /broken\.ts: voice: "nova"/,
        /DEFAULT_PERSONA: "nobody" names no persona in .* \(found: broken, tester\)/,
        /PUBLIC_BASE_URL: not set, and no ngrok tunnel was found at http:\/\/127\.0\.0\.1:9/,
        /DATA_DIR: cannot open the call database ".*\/data\/parley\.db": .* is a file, not a folder: set DATA_DIR to a folder Parley can write/,
      ]
    ) assert.match(stderr, expected);
    assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  } finally {
    await Deno.remove(personasDir, { recursive: true });
    await Deno.remove(notAFolder);
  }
});

Deno.test("main.ts names PORT when the port is taken, without a stack trace", async () => {
  using taken = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  const dataDir = await Deno.makeTempDir();
  try {
    const { code, stderr } = await (await spawnParley("start", {
      PORT: String(taken.addr.port),
      PUBLIC_BASE_URL: "https://parley.test",
      OPENAI_API_KEY: "sk-smoke-test-key-0123456789",
      PERSONAS_DIR: TEST_PERSONAS_DIR,
      DEFAULT_PERSONA: "tester",
      INBOUND_PERSONA: "quiet",
      DATA_DIR: dataDir,
    })).finished();
    assert.equal(code, 1);
    assert.match(
      stderr,
      new RegExp(`❌ Parley cannot start: 1 problem:\n\\s+- PORT: ${taken.addr.port} is already in use`),
    );
    assert.match(stderr, /set PORT to a free port in \.env/);
    assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
