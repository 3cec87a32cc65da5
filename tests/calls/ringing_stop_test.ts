/**
 * A single-machine Parley (SQLite, no DATABASE_URL) stopped gracefully (a deploy: SIGTERM or Ctrl-C,
 * `deno task start`) while a call it placed still rings: the stop leaves the call's record open (no
 * `server_shutdown`) and says so once, and the next start takes it up, so the callee who answers gets
 * the persona's stream, not a dead line. Real processes (`main.ts`), the fakes of Twilio's REST API
 * and OpenAI, and real sockets.
 */

import assert from "node:assert/strict";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import { startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";
import {
  listeningPort,
  type ParleyProcess,
  PROCESS_API_TOKEN,
  PROCESS_AUTH_TOKEN,
  PROCESS_PUBLIC_BASE_URL,
  PROCESS_TARGET,
  processEnv,
  reap,
  spawnParley,
} from "../../testing/parley_process.ts";
import { postVoiceWebhook } from "../../testing/twilio_webhook.ts";
import { within } from "../../testing/within.ts";

const ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);
const AUTH = { authorization: `Bearer ${PROCESS_API_TOKEN}` };

async function getRecord(port: number, callSid: string): Promise<Record<string, unknown>> {
  const response = await fetch(`http://127.0.0.1:${port}/api/calls/${callSid}`, { headers: AUTH });
  assert.equal(response.status, 200, `the record of ${callSid}`);
  return await response.json();
}

/** Sends `signal` and waits for the process to end by itself; resolves to its output (stdout, stderr). */
async function stop(parley: ParleyProcess, signal: Deno.Signal): Promise<string> {
  parley.child.kill(signal);
  const { stderr } = await within(parley.finished(), `the exit after ${signal}`, 10_000);
  return `${parley.stdout.lines.join("\n")}\n${stderr}`;
}

Deno.test("a single machine stopped (SIGTERM, then Ctrl-C) while a placed call rings leaves it open: the next start connects the callee", async () => {
  const upstream = FakeRealtimeServer.start();
  const rest = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: PROCESS_AUTH_TOKEN });
  const dataDir = await Deno.makeTempDir();
  // No INSTANCE_ID: SQLite's default, the host name, is the same on the next start.
  const env = processEnv({ upstreamUrl: upstream.url, dataDir }, {
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_PHONE_NUMBER: "+14155550199",
    TWILIO_API_BASE_URL: rest.baseUrl,
  });
  let parley: ParleyProcess | undefined;
  try {
    parley = await spawnParley("start", env);
    let port = await listeningPort(parley);
    const placed = await fetch(`http://127.0.0.1:${port}/api/calls`, {
      method: "POST",
      headers: { ...AUTH, "content-type": "application/json" },
      body: JSON.stringify({ to: "+14155550123", persona: "tester", parameters: { lead: "Dana" } }),
    });
    const body = await placed.json();
    assert.equal(placed.status, 201, JSON.stringify(body));
    const callSid = String(body.callSid);
    const request = await rest.waitForRequest((r) => r.method === "POST" && r.path.endsWith("/Calls.json"));
    assert.equal((await getRecord(port, callSid)).endedAt, null);

    // A deploy: SIGTERM drains (nothing live) and stops, leaving the ringing call open.
    let output = await stop(parley, "SIGTERM");
    assert.doesNotMatch(output, new RegExp(`CallSid=${callSid} reason=server_shutdown`), output);
    const left = output.split("\n").filter((line) => /Left \d+ ringing call\(s\) open/.test(line));
    assert.equal(left.length, 1, output);
    assert.match(
      left[0]!,
      new RegExp(`Left 1 ringing call\\(s\\) open for the next start to take up: ${callSid}`),
    );

    // The next start takes it up; Ctrl-C (SIGINT) stops it, leaving it open again.
    parley = await spawnParley("start", env);
    port = await listeningPort(parley);
    assert.equal((await getRecord(port, callSid)).endedAt, null);
    output = await stop(parley, "SIGINT");
    assert.match(output, new RegExp(`Took up 1 ringing call\\(s\\) the previous run placed .*${callSid}`));
    assert.match(
      output,
      new RegExp(`Left 1 ringing call\\(s\\) open for the next start to take up: ${callSid}`),
    );

    // The callee answers after the third start: the persona's stream, not a hang-up.
    parley = await spawnParley("start", env);
    port = await listeningPort(parley);
    const url = new URL(request.form.get("Url")!);
    assert.equal(url.origin, PROCESS_PUBLIC_BASE_URL);
    const webhook = await postVoiceWebhook(
      { port, ...PROCESS_TARGET },
      callSid,
      `${url.pathname}${url.search}`,
    );
    assert.equal(webhook.status, 200);
    assert.ok(webhook.streamUrl !== undefined, `a stream, not a hang-up: ${webhook.twiml}`);
    assert.match(webhook.twiml, /<Parameter name="persona" value="tester"\s*\/>/);
    assert.match(webhook.twiml, /<Parameter name="lead" value="Dana"\s*\/>/);
    const record = await getRecord(port, callSid);
    assert.equal(record.endedAt, null, `still open: ${record.endReason} (${record.endDetail})`);
    assert.equal(record.endReason, null, "the reason noted at the stop is dropped by the take-up");
  } finally {
    if (parley !== undefined) await reap(parley);
    await upstream.close();
    await rest.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a call left ringing at a stop that Twilio ended meanwhile is closed at the next start, its status asked of Twilio", async () => {
  const upstream = FakeRealtimeServer.start();
  const rest = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: PROCESS_AUTH_TOKEN });
  const dataDir = await Deno.makeTempDir();
  const env = processEnv({ upstreamUrl: upstream.url, dataDir }, {
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_PHONE_NUMBER: "+14155550199",
    TWILIO_API_BASE_URL: rest.baseUrl,
  });
  let parley: ParleyProcess | undefined;
  try {
    parley = await spawnParley("start", env);
    let port = await listeningPort(parley);
    const place = async (to: string) => {
      const placed = await fetch(`http://127.0.0.1:${port}/api/calls`, {
        method: "POST",
        headers: { ...AUTH, "content-type": "application/json" },
        body: JSON.stringify({ to, persona: "tester" }),
      });
      assert.equal(placed.status, 201);
      return String((await placed.json()).callSid);
    };
    const declined = await place("+14155550123");
    const ringing = await place("+14155550124");
    await stop(parley, "SIGTERM");
    // While Parley is down the first callee declines: Twilio's status callback finds no one.
    rest.setCallStatus(declined, "no-answer");
    rest.setCallStatus(ringing, "ringing");

    parley = await spawnParley("start", env);
    port = await listeningPort(parley);
    await within(
      parley.stderr.waitFor(new RegExp(`Call ended: CallSid=${declined} reason=never_connected`)),
      "the declined call closed",
    );
    assert.ok(
      parley.stdout.lines.some((line) => line.includes(`CallSid=${declined} is over at Twilio (no-answer)`)),
      parley.stdout.lines.join("\n"),
    );
    const record = await getRecord(port, declined);
    assert.notEqual(record.endedAt, null);
    assert.match(String(record.endDetail), /no-answer/);
    assert.equal((await getRecord(port, ringing)).endedAt, null, "the one still ringing stays taken up");
    assert.ok(
      rest.requests.some((r) => r.method === "GET" && r.path.endsWith(`/Calls/${declined}.json`)),
      "asked of Twilio",
    );
  } finally {
    if (parley !== undefined) await reap(parley);
    await upstream.close();
    await rest.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});
