/**
 * `main.ts` as a subprocess with the start task's flags, in the setups a newcomer tries first: only an
 * OpenAI key (browser-only mode: the softphone works, Twilio is refused), a folder with one persona
 * (it answers inbound calls too), `HOST` (it listens there only), and a start that fails (it leaves
 * nothing in `DATA_DIR`).
 */

import assert from "node:assert/strict";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { FakeRealtimeServer } from "../testing/fake_realtime.ts";
import { within } from "../testing/within.ts";
import { listeningPort, reap, spawnParley, TEST_PERSONAS_DIR } from "../testing/parley_process.ts";
import { sessionCookie } from "../testing/sign_in.ts";
import { releasePort, unsharedPort } from "../testing/unshared_port.ts";

const API_TOKEN = "modes-api-token-0123456789";

Deno.test("with only an OpenAI key Parley starts browser-only: the softphone works, Twilio is refused", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const parley = await spawnParley("start", {
    PORT: "0",
    OPENAI_API_KEY: "sk-modes-key-0123456789",
    OPENAI_REALTIME_URL: upstream.url,
    API_TOKEN, // to sign in to the pages; no Twilio variable, no PUBLIC_BASE_URL, no ngrok
    NGROK_API_URL: "http://127.0.0.1:9",
    PERSONAS_DIR: TEST_PERSONAS_DIR,
    DEFAULT_PERSONA: "tester",
    INBOUND_PERSONA: "quiet",
    DATA_DIR: dataDir,
  });
  try {
    const port = await listeningPort(parley);
    await parley.stdout.waitFor(/Call records:/);
    const banner = parley.stdout.lines.join("\n");
    assert.match(banner, /Browser-only mode: no TWILIO_\* variable, PUBLIC_BASE_URL or ngrok tunnel/);
    assert.match(banner, /For phone calls set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER/);
    assert.doesNotMatch(banner, /Voice webhook/);

    const origin = `http://127.0.0.1:${port}`;
    const webhook = await fetch(`${origin}/api/twilio/voice-realtime`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ CallSid: `CA${"2".repeat(32)}` }),
    });
    assert.equal(webhook.status, 403, "Twilio's requests are refused");
    await webhook.body?.cancel();

    const cookie = await sessionCookie(origin, API_TOKEN, "/calling");
    const socket = new WebSocket(`ws://127.0.0.1:${port}/api/softphone?persona=tester`, {
      headers: { cookie, origin },
    });
    const assigned = await within(
      new Promise<{ callSid: string; streamSid: string }>((resolve) =>
        socket.onmessage = (e) => resolve(JSON.parse(e.data))
      ),
      "the softphone's call",
    );
    const closed = new Promise((resolve) => socket.onclose = resolve);
    socket.send(JSON.stringify({
      event: "start",
      streamSid: assigned.streamSid,
      start: { streamSid: assigned.streamSid, callSid: assigned.callSid, customParameters: {} },
    }));
    const session = await within(upstream.session(0), "the OpenAI session");
    await within(session.waitFor("session.update"), "the session set up");
    socket.close();
    await closed;
    await parley.stdout.waitFor(/Call ended: CallSid=BR/);
    parley.child.kill("SIGTERM");
    assert.equal((await parley.child.status).code, 0);
  } finally {
    await reap(parley);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a folder with one persona: DEFAULT_PERSONA alone starts, and it answers inbound calls", async () => {
  const personasDir = await Deno.makeTempDir();
  const dataDir = await Deno.makeTempDir();
  await Deno.copyFile(`${TEST_PERSONAS_DIR}/tester.ts`, `${personasDir}/sam.ts`);
  const authToken = "modes-auth-token-0123456789";
  const parley = await spawnParley("start", {
    PORT: "0",
    PUBLIC_BASE_URL: "https://parley.test",
    OPENAI_API_KEY: "sk-modes-key-0123456789",
    TWILIO_AUTH_TOKEN: authToken,
    PERSONAS_DIR: personasDir,
    DEFAULT_PERSONA: "sam", // no INBOUND_PERSONA, no receptionist.ts
    DATA_DIR: dataDir,
  });
  try {
    const port = await listeningPort(parley);
    const inbound = await parley.stdout.waitFor(/Inbound calls:/);
    assert.match(
      inbound,
      /Inbound calls: sam \(DEFAULT_PERSONA: INBOUND_PERSONA is not set and there is no receptionist/,
    );

    const form = { CallSid: `CA${"3".repeat(32)}`, AccountSid: `AC${"0".repeat(32)}`, Direction: "inbound" };
    const path = "/api/twilio/voice-realtime";
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": getExpectedTwilioSignature(authToken, `https://parley.test${path}`, form),
      },
      body: new URLSearchParams(form),
    });
    const twiml = await response.text();
    assert.match(twiml, /<Stream url="wss:\/\/parley\.test\//, twiml);
    assert.match(twiml, /<Parameter name="persona" value="sam"\/>/, twiml);
    // No SIGTERM: the drain would wait for this call's stream, which never comes.
  } finally {
    await reap(parley);
    await Deno.remove(personasDir, { recursive: true });
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("HOST: Parley listens on that address only, and the banner says so", async () => {
  const dataDir = await Deno.makeTempDir();
  // Not port 0: the port Linux picks on 127.0.0.2 may be one another test's server holds on 127.0.0.1,
  // which would answer where this test expects a refusal. unsharedPort() is below the ephemeral range.
  const chosen = unsharedPort();
  const parley = await spawnParley("start", {
    PORT: String(chosen),
    HOST: "127.0.0.2", // a loopback address of its own: 127.0.0.1 is another interface address
    PUBLIC_BASE_URL: "https://parley.test",
    OPENAI_API_KEY: "sk-modes-key-0123456789",
    PERSONAS_DIR: TEST_PERSONAS_DIR,
    DEFAULT_PERSONA: "tester",
    INBOUND_PERSONA: "quiet",
    DATA_DIR: dataDir,
  });
  try {
    const port = await listeningPort(parley);
    assert.equal(port, chosen);
    const line = await parley.stdout.waitFor(/Parley listening on/);
    assert.equal(line, `✅ Parley listening on http://127.0.0.2:${port} (HOST=127.0.0.2: this machine only)`);
    const health = await fetch(`http://127.0.0.2:${port}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    await assert.rejects(
      Deno.connect({ hostname: "127.0.0.1", port }),
      Deno.errors.ConnectionRefused,
      "nothing listens on the other address",
    );
    parley.child.kill("SIGTERM");
    assert.equal((await parley.child.status).code, 0);
  } finally {
    await reap(parley);
    releasePort(chosen);
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a start that fails leaves nothing in DATA_DIR (no parley.db, no folder)", async () => {
  const parent = await Deno.makeTempDir();
  try {
    const { code, stderr } = await (await spawnParley("start", {
      PORT: "eighty",
      PUBLIC_BASE_URL: "https://parley.test",
      OPENAI_API_KEY: "sk-modes-key-0123456789",
      PERSONAS_DIR: TEST_PERSONAS_DIR,
      DEFAULT_PERSONA: "tester",
      INBOUND_PERSONA: "quiet",
      DATA_DIR: `${parent}/data`,
    })).finished();
    assert.equal(code, 1);
    assert.match(stderr, /PORT: "eighty" is not a port number/);
    assert.deepEqual([...Deno.readDirSync(parent)], [], "DATA_DIR was not created");
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
