/**
 * The real process: a call's `call.started` goes out while it runs; after a SIGKILL mid-call the next
 * start closes the record (`server_crashed`) and sends its `call.ended`, signed, built from the record.
 */

import assert from "node:assert/strict";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import { within } from "../../testing/within.ts";
import {
  listeningPort,
  type ParleyProcess,
  placeTwilioCall,
  PROCESS_AUTH_TOKEN,
  PROCESS_PUBLIC_BASE_URL,
  processEnv,
  reap,
  spawnParley,
} from "../../testing/parley_process.ts";
import { startWebhookReceiver } from "../../testing/webhook_receiver.ts";
import { SECRET } from "./_call.ts";

const PUBLIC_BASE_URL = PROCESS_PUBLIC_BASE_URL;
const AUTH_TOKEN = PROCESS_AUTH_TOKEN;

Deno.test("after a SIGKILL mid-call, the next start sends the call's call.ended (server_crashed)", async () => {
  const upstream = FakeRealtimeServer.start();
  const receiver = await startWebhookReceiver(SECRET);
  const dataDir = await Deno.makeTempDir({ prefix: "parley_webhooks_crash_" });
  const env = processEnv({ upstreamUrl: upstream.url, dataDir, inboundPersona: "tester" }, {
    INSTANCE_ID: "crashy",
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: SECRET,
  });
  const first = await spawnParley("start", env);
  let second: ParleyProcess | undefined;
  try {
    const port = await listeningPort(first);
    const call = await placeTwilioCall({ port, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC_BASE_URL }, {
      persona: "tester",
    });
    call.start({ persona: "tester" });
    await (await upstream.session(0)).waitFor("response.create");
    await within(receiver.waitFor((r) => r.some((w) => w.body.type === "call.started")), "call.started");
    first.child.kill("SIGKILL");
    await first.child.status;
    await call.closed;

    second = await spawnParley("start", env);
    await listeningPort(second);
    await within(
      receiver.waitFor((r) => r.some((w) => w.body.type === "call.ended")),
      "call.ended after the restart",
    );
    assert.deepEqual(receiver.rejected, []);
    const ended = receiver.received.find((w) => w.body.type === "call.ended")!;
    assert.equal(ended.id, `msg_call_ended_${call.callSid}`);
    assert.equal(ended.body.data.endReason, "server_crashed");
    assert.equal(ended.body.data.persona, "tester");
    assert.ok(!second.stdout.lines.join("\n").includes(SECRET.slice(6)), "the secret is never logged");
    second.child.kill("SIGTERM");
    assert.equal((await second.child.status).code, 0);
  } finally {
    await reap(first);
    if (second !== undefined) await reap(second);
    await upstream.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
