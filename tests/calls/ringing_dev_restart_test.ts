/**
 * `deno task dev` restarting on a code change while a call Parley placed is still ringing: the run
 * that stops leaves the call's record open (no `server_shutdown`), and the restarted run takes it up,
 * so the callee who answers gets the persona's stream, not a dead line.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import { startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";
import { releasePort, unsharedPort } from "../../testing/unshared_port.ts";
import { within } from "../../testing/within.ts";
import {
  listeningPort,
  type ParleyProcess,
  PROCESS_API_TOKEN,
  PROCESS_AUTH_TOKEN,
  PROCESS_PUBLIC_BASE_URL,
  PROCESS_TARGET,
  reap,
  REPO,
  spawnParley,
  TEST_PERSONAS_DIR,
} from "../../testing/parley_process.ts";
import { postVoiceWebhook } from "../../testing/twilio_webhook.ts";

const ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);
const AUTH = { authorization: `Bearer ${PROCESS_API_TOKEN}` };

/** A copy of what `deno task dev` runs (never the repository itself): a code change there restarts it. */
async function copyCheckout(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "parley-checkout-" });
  for (const name of ["deno.json", "deno.lock", "main.ts", "src"]) {
    const { code } = await new Deno.Command("cp", { args: ["-r", join(REPO, name), dir] }).output();
    assert.equal(code, 0, `copy ${name}`);
  }
  return dir;
}

Deno.test("deno task dev: a code change while a placed call rings leaves it to the restarted server, which answers its webhook", async () => {
  const checkout = await copyCheckout();
  const upstream = FakeRealtimeServer.start();
  const rest = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: PROCESS_AUTH_TOKEN });
  const port = unsharedPort(); // both runs listen on it
  let parley: ParleyProcess | undefined;
  try {
    parley = await spawnParley("dev", {
      PORT: String(port),
      PUBLIC_BASE_URL: PROCESS_PUBLIC_BASE_URL,
      OPENAI_API_KEY: "sk-dev-ringing-key-0123456789",
      OPENAI_REALTIME_URL: upstream.url,
      TWILIO_AUTH_TOKEN: PROCESS_AUTH_TOKEN,
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_PHONE_NUMBER: "+14155550199",
      TWILIO_API_BASE_URL: rest.baseUrl,
      API_TOKEN: PROCESS_API_TOKEN,
      DATA_DIR: join(checkout, "data"),
      PERSONAS_DIR: TEST_PERSONAS_DIR,
      DEFAULT_PERSONA: "tester",
      INBOUND_PERSONA: "quiet",
      INSTANCE_ID: "dev-ringing",
    }, { keepWatch: true, args: ["--watch-personas"], cwd: checkout });
    assert.equal(await listeningPort(parley), port);
    const placed = await fetch(`http://127.0.0.1:${port}/api/calls`, {
      method: "POST",
      headers: { ...AUTH, "content-type": "application/json" },
      body: JSON.stringify({ to: "+14155550123", persona: "tester", parameters: { lead: "Dana" } }),
    });
    assert.equal(placed.status, 201);
    const { callSid } = await placed.json();
    const request = await rest.waitForRequest((r) => r.method === "POST" && r.path.endsWith("/Calls.json"));
    const url = new URL(request.form.get("Url")!);

    // A code change restarts the server while the call rings.
    const from = parley.stdout.lines.length;
    const errFrom = parley.stderr.lines.length;
    await Deno.writeTextFile(join(checkout, "src", "log.ts"), "// a code change\n", { append: true });
    await within(parley.stdout.waitFor(/Parley listening on/, from), "the restarted server's banner", 15_000);

    // The callee answers.
    const webhook = await postVoiceWebhook(
      { port, ...PROCESS_TARGET },
      callSid,
      `${url.pathname}${url.search}`,
    );
    assert.ok(webhook.streamUrl !== undefined, `a stream, not a hang-up: ${webhook.twiml}`);
    assert.match(webhook.twiml, /<Parameter name="persona" value="tester"\s*\/>/);
    assert.match(webhook.twiml, /<Parameter name="lead" value="Dana"\s*\/>/);

    // One start-up line names it; the run that stopped ended nothing.
    const tookUp = await within(
      parley.stderr.waitFor(/Took up \d+ ringing call/, errFrom),
      "the take-up line",
    );
    assert.match(tookUp, new RegExp(`Took up 1 ringing call\\(s\\) the previous run placed .*${callSid}`));
    assert.ok(
      !parley.stdout.lines.concat(parley.stderr.lines).some((l) => l.includes(`CallSid=${callSid} reason=`)),
      "the stopping run did not end the call",
    );
    const record = await (await fetch(`http://127.0.0.1:${port}/api/calls/${callSid}`, { headers: AUTH }))
      .json();
    assert.equal(record.endedAt, null, `still open: ${record.endReason} (${record.endDetail})`);
    assert.equal(record.endReason, null);
    // Answered as the call placed here (admission took it up), not as one placed elsewhere.
    assert.equal(record.direction, "outbound-api");
  } finally {
    if (parley !== undefined) await reap(parley);
    releasePort(port);
    await upstream.close();
    await rest.shutdown();
    await Deno.remove(checkout, { recursive: true });
  }
});
