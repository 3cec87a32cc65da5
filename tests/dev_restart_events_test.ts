/**
 * The events of calls a run could not end itself, on the real process. Under `deno task dev` a code
 * change restarts the server mid-call: the call's record is closed with `server_shutdown`, and its
 * `call.ended` webhook and its analysis go out once (from the next start). After a crash, the next start
 * announces the calls it closes even when the store refuses the webhook at that moment: it waits in
 * memory and goes out once the store takes writes again.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { FakeRealtimeServer } from "../testing/fake_realtime.ts";
import { FakeResponsesServer } from "../testing/fake_responses.ts";
import { releasePort, unsharedPort } from "../testing/unshared_port.ts";
import { type ReceivedWebhook, startWebhookReceiver } from "../testing/webhook_receiver.ts";
import { within } from "../testing/within.ts";
import {
  listeningPort,
  type ParleyProcess,
  placeTwilioCall,
  PROCESS_API_TOKEN,
  PROCESS_AUTH_TOKEN,
  PROCESS_PUBLIC_BASE_URL,
  processEnv,
  reap,
  REPO,
  spawnParley,
} from "../testing/parley_process.ts";
import { callDatabasePath } from "../src/store/sqlite/call_store.ts";
import { PERSONAS } from "./analysis/_analysis_rig.ts";
import { SECRET } from "./webhooks/_call.ts";

const OPENAI_KEY = "sk-dev-restart-key-0123456789";
const TARGET = { authToken: PROCESS_AUTH_TOKEN, publicBaseUrl: PROCESS_PUBLIC_BASE_URL } as const;

/** A copy of what `deno task dev` runs (never the repository itself), with the analysis personas. */
async function copyCheckout(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "parley-checkout-" });
  for (const name of ["deno.json", "deno.lock", "main.ts", "src"]) {
    const { code } = await new Deno.Command("cp", { args: ["-r", join(REPO, name), dir] }).output();
    assert.equal(code, 0, `copy ${name}`);
  }
  await Deno.mkdir(join(dir, "personas"));
  for (const [name, source] of Object.entries(PERSONAS)) {
    await Deno.writeTextFile(join(dir, "personas", name), source);
  }
  return dir;
}

/** The `call.ended` webhooks of `callSid` received so far. */
function endedOf(received: readonly ReceivedWebhook[], callSid: string): ReceivedWebhook[] {
  return received.filter((w) => w.body.type === "call.ended" && w.body.data.callSid === callSid);
}

Deno.test("deno task dev: a call cut by a code change gets its call.ended (server_shutdown) and its analysis, once", async () => {
  const checkout = await copyCheckout();
  const upstream = FakeRealtimeServer.start();
  const fake = FakeResponsesServer.start(
    OPENAI_KEY,
    () => ({ interested: true, meetingDay: null, objections: [] }),
  );
  const receiver = await startWebhookReceiver(SECRET);
  const port = unsharedPort(); // both runs listen on it
  const parley = await spawnParley("dev", {
    PORT: String(port),
    PUBLIC_BASE_URL: PROCESS_PUBLIC_BASE_URL,
    OPENAI_API_KEY: OPENAI_KEY,
    OPENAI_REALTIME_URL: upstream.url,
    OPENAI_BASE_URL: fake.baseUrl,
    TWILIO_AUTH_TOKEN: PROCESS_AUTH_TOKEN,
    API_TOKEN: PROCESS_API_TOKEN,
    DATA_DIR: join(checkout, "data"),
    PERSONAS_DIR: join(checkout, "personas"),
    DEFAULT_PERSONA: "lead",
    INBOUND_PERSONA: "lead",
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: SECRET,
  }, { keepWatch: true, args: ["--watch-personas"], cwd: checkout });
  try {
    assert.equal(await listeningPort(parley), port);
    const call = await placeTwilioCall({ port, ...TARGET }, { persona: "lead" });
    call.start({ persona: "lead" });
    await (await upstream.session(0)).waitFor("response.create");
    await within(receiver.waitFor((r) => r.some((w) => w.body.type === "call.started")), "call.started");

    // A code change restarts the server with the call in progress.
    const from = parley.stdout.lines.length;
    await Deno.writeTextFile(join(checkout, "src", "log.ts"), "// a code change\n", { append: true });
    await within(parley.stdout.waitFor(/Parley listening on/, from), "the restarted server's banner", 15_000);
    await within(call.closed, "the cut call's socket to close");

    await within(
      receiver.waitFor((r) => endedOf(r, call.callSid).length > 0),
      "the cut call's call.ended after the restart",
      10_000,
    );
    const [ended] = endedOf(receiver.received, call.callSid);
    assert.equal(ended!.id, `msg_call_ended_${call.callSid}`);
    assert.equal(ended!.body.data.endReason, "server_shutdown");
    assert.match(String(ended!.body.data.endDetail), /deno task dev restarted the server/);
    await within(
      receiver.waitFor((r) =>
        r.some((w) => w.body.type === "call.analyzed" && w.body.data.callSid === call.callSid)
      ),
      "the cut call's analysis",
      10_000,
    );
    const analyzed = receiver.received.find((w) => w.body.type === "call.analyzed")!;
    assert.equal(analyzed.body.data.state, "done");
    assert.equal(fake.requests.filter((r) => r.status === 200).length, 1, "one analysis");

    const record = await (await fetch(`http://127.0.0.1:${port}/api/calls/${call.callSid}`, {
      headers: { authorization: `Bearer ${PROCESS_API_TOKEN}` },
    })).json();
    assert.equal(record.endReason, "server_shutdown");
    assert.equal(record.outcome.state, "done");

    // Stopped (SIGTERM drains and ends `deno task dev`): nothing about the call is sent again.
    parley.child.kill("SIGTERM");
    const status = await within(parley.child.status, "the end after SIGTERM", 10_000);
    assert.equal(status.signal, "SIGTERM");
    assert.equal(endedOf(receiver.received, call.callSid).length, 1, "call.ended once");
    assert.equal(receiver.received.filter((w) => w.body.type === "call.analyzed").length, 1, "analyzed once");
    assert.deepEqual(receiver.rejected, []);
  } finally {
    await reap(parley);
    releasePort(port);
    await fake.close();
    await upstream.close();
    await receiver.close();
    await Deno.remove(checkout, { recursive: true });
  }
});

Deno.test("after a crash, a call.ended the store refuses at the next start waits and goes out once it takes writes", async () => {
  const upstream = FakeRealtimeServer.start();
  const receiver = await startWebhookReceiver(SECRET);
  const dataDir = await Deno.makeTempDir({ prefix: "parley_restart_outage_" });
  const env = processEnv({ upstreamUrl: upstream.url, dataDir }, {
    INSTANCE_ID: "refused",
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: SECRET,
  });
  const first = await spawnParley("start", env);
  let second: ParleyProcess | undefined;
  let db: DatabaseSync | undefined;
  try {
    const port = await listeningPort(first);
    const call = await placeTwilioCall({ port, ...TARGET }, { persona: "tester" });
    call.start({ persona: "tester" });
    await (await upstream.session(0)).waitFor("response.create");
    await within(receiver.waitFor((r) => r.some((w) => w.body.type === "call.started")), "call.started");
    first.child.kill("SIGKILL");
    await first.child.status;
    await call.closed;

    // The store refuses the outbox's writes when the next start announces the call it closes.
    db = new DatabaseSync(callDatabasePath(dataDir));
    db.exec(
      "CREATE TRIGGER refuse_outbox BEFORE INSERT ON webhook_outbox BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
    );
    second = await spawnParley("start", env);
    await listeningPort(second);
    const refused = await within(
      second.stderr.waitFor(new RegExp(`enqueue call\\.ended of ${call.callSid}`)),
      "the refused call.ended",
    );

    db.exec("DROP TRIGGER refuse_outbox");
    await within(
      receiver.waitFor((r) => endedOf(r, call.callSid).length > 0),
      "call.ended once the store takes writes",
      10_000,
    );
    const [ended] = endedOf(receiver.received, call.callSid);
    assert.equal(ended!.body.data.endReason, "server_crashed");
    assert.match(refused, /Webhooks: cannot enqueue call\.ended of CA\w+: .*keeping it in memory/);
    await within(second.stdout.waitFor(/Webhooks: enqueued again/), "the recovery logged");
    second.child.kill("SIGTERM");
    assert.equal((await second.child.status).code, 0);
    assert.equal(endedOf(receiver.received, call.callSid).length, 1);
  } finally {
    db?.close();
    await reap(first);
    if (second !== undefined) await reap(second);
    await upstream.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
