/**
 * Runs `main.ts` as a subprocess with the exact permission flags of `deno task start`, and relays a
 * call through it: a missing permission fails here, not in a user's terminal.
 */

import assert from "node:assert/strict";
import { toneBytes } from "./fakes/fake_realtime.ts";
import { FakeRealtimeServer } from "./fakes/fake_realtime.ts";
import { FakeTwilioCall } from "./fakes/fake_twilio.ts";
import { LineReader } from "./fakes/line_reader.ts";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";

const REPO = new URL("../", import.meta.url).pathname;

/** The flags between `deno run` and `main.ts` in a deno.json task. */
async function taskFlags(task: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${REPO}deno.json`));
  const command: string = config.tasks[task];
  const words = command.split(/\s+/);
  assert.equal(words[0], "deno");
  assert.equal(words[1], "run");
  const flags = words.slice(2, words.indexOf("main.ts"));
  assert.ok(!flags.includes("-A") && !flags.includes("--allow-all"), "no -A");
  assert.ok(!flags.some((f) => f.startsWith("--allow-run") || f.startsWith("--allow-ffi")), "no run/ffi");
  return flags.filter((f) => f !== "--watch");
}

function spawnParley(flags: string[], env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, "main.ts"],
    cwd: REPO,
    clearEnv: true,
    env: { HOME: Deno.env.get("HOME") ?? "/root", PATH: Deno.env.get("PATH") ?? "", NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return { child, stdout: new LineReader(child.stdout), stderr: new LineReader(child.stderr) };
}

Deno.test("main.ts starts with the start task's permissions, relays a call and stops on SIGTERM", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const authToken = "smoke-auth-token-0123456789";
  const { child, stdout, stderr } = spawnParley(await taskFlags("start"), {
    PORT: "0",
    PUBLIC_BASE_URL: "https://parley.test/",
    OPENAI_API_KEY: "sk-smoke-test-key-0123456789",
    OPENAI_REALTIME_URL: upstream.url,
    TWILIO_AUTH_TOKEN: authToken,
    API_TOKEN: "smoke-api-token-0123456789",
    DATA_DIR: dataDir,
  });
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
    assert.ok(stdout.lines.some((l) => /Personas from .*alex \(default\), alex_live, receptionist/.test(l)));

    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.deepEqual(await health.json(), { status: "ok", activeCalls: 0 });

    const call = await FakeTwilioCall.connect(`ws://127.0.0.1:${port}/twilio-realtime-voice`, {
      headers: {
        "X-Twilio-Signature": getExpectedTwilioSignature(
          authToken,
          "wss://parley.test/twilio-realtime-voice",
          {},
        ),
      },
    });
    call.start({ persona: "alex", lead: "Dana" });
    const session = await upstream.session(0);
    const update = await session.waitFor("session.update");
    assert.equal(update.session.audio.output.voice, "shimmer");
    assert.match(update.session.instructions, /Dana/);
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
    await child.status;
    await Promise.all([stdout.done, stderr.done]);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("main.ts refuses to start on bad configuration, naming every variable", async () => {
  const { child, stdout, stderr } = spawnParley(await taskFlags("start"), {
    PORT: "eighty",
    PUBLIC_BASE_URL: "http://insecure.example",
    PERSONAS_DIR: `${REPO}personas`,
  });
  const status = await child.status;
  await Promise.all([stdout.done, stderr.done]);
  assert.equal(status.code, 1);
  const text = stderr.lines.join("\n");
  assert.match(text, /PORT: "eighty" is not a port number/);
  assert.match(text, /PUBLIC_BASE_URL: "http:\/\/insecure.example" is not an https URL/);
  assert.match(text, /OPENAI_API_KEY: not set/);
});

Deno.test("main.ts refuses to start when DEFAULT_PERSONA names no persona", async () => {
  const { child, stdout, stderr } = spawnParley(await taskFlags("start"), {
    PUBLIC_BASE_URL: "https://parley.test",
    OPENAI_API_KEY: "sk-smoke-test-key-0123456789",
    DEFAULT_PERSONA: "nobody",
    PORT: "0",
  });
  const status = await child.status;
  await Promise.all([stdout.done, stderr.done]);
  assert.equal(status.code, 1);
  assert.match(
    stderr.lines.join("\n"),
    /DEFAULT_PERSONA: "nobody" names no persona in \.\/personas \(found: alex, alex_live, receptionist\)/,
  );
});
