/**
 * A call the shutdown cuts (DRAIN_TIMEOUT_S passed, on the real process): Twilio sees its stream close
 * and, a moment later, requests the `<Connect action>`. The server is still there to answer it with the
 * persona's fallback message (not a refused connection, which the caller would hear as Twilio's
 * application error), and stops once it has; when no request comes, it stops after the grace.
 */

import assert from "node:assert/strict";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { FakeRealtimeServer } from "../testing/fake_realtime.ts";
import { within } from "../testing/within.ts";
import {
  greetedProcessCall,
  listeningPort,
  PROCESS_AUTH_TOKEN,
  PROCESS_PUBLIC_BASE_URL,
  processEnv,
  reap,
  spawnParley,
} from "../testing/parley_process.ts";
import { AFTER_STREAM_GRACE_MS } from "../src/app/server.ts";

/** What Twilio waits, after it sees a stream close, before it requests the `<Connect action>`, ms. */
const TWILIO_ACTION_DELAY_MS = 150;

/** Posts the signed `<Connect action>` request Twilio makes once `callSid`'s stream closed. */
async function postAfterStream(port: number, callSid: string): Promise<{ status: number; twiml: string }> {
  const path = "/api/twilio/after-stream?persona=tester";
  const form = {
    CallSid: callSid,
    AccountSid: "AC00000000000000000000000000000000",
    CallStatus: "in-progress",
  };
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "X-Twilio-Signature": getExpectedTwilioSignature(
        PROCESS_AUTH_TOKEN,
        `${PROCESS_PUBLIC_BASE_URL}${path}`,
        form,
      ),
    },
    body: new URLSearchParams(form),
  });
  return { status: response.status, twiml: await response.text() };
}

Deno.test("a call cut by DRAIN_TIMEOUT_S gets its after-stream answer: the fallback, then the process exits", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const parley = await spawnParley(
    "start",
    processEnv({ upstreamUrl: upstream.url, dataDir }, { DRAIN_TIMEOUT_S: "1" }),
  );
  try {
    const port = await listeningPort(parley);
    const { call } = await greetedProcessCall(port, upstream);

    parley.child.kill("SIGTERM");
    await within(parley.stdout.waitFor(/DRAIN_TIMEOUT_S=1 passed: ending 1 call/), "the drain's timeout");
    await within(call.closed, "the cut call's stream to close");
    // Twilio requests the <Connect action> a moment after it sees the close.
    await new Promise((resolve) => setTimeout(resolve, TWILIO_ACTION_DELAY_MS));
    const askedAt = performance.now();
    const answer = await within(postAfterStream(port, call.callSid), "the after-stream answer");
    assert.equal(answer.status, 200);
    assert.match(answer.twiml, /<Response><Say>The tester is away\.<\/Say><\/Response>$/);

    const status = await within(parley.child.status, "the exit after the after-stream answer");
    assert.equal(status.code, 0);
    assert.ok(
      performance.now() - askedAt < AFTER_STREAM_GRACE_MS,
      "the process stops once the request came, not after the whole grace",
    );
    await parley.stdout.done;
    const out = parley.stdout.lines.join("\n");
    assert.match(out, new RegExp(`After stream: CallSid=${call.callSid} → fallback message`));
    assert.doesNotMatch(out, /No after-stream request came/);
  } finally {
    await reap(parley);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a cut call whose after-stream request never comes (another instance took it) delays the exit by the grace only", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const parley = await spawnParley(
    "start",
    processEnv({ upstreamUrl: upstream.url, dataDir }, { DRAIN_TIMEOUT_S: "1" }),
  );
  try {
    const port = await listeningPort(parley);
    const { call } = await greetedProcessCall(port, upstream);

    parley.child.kill("SIGTERM");
    await within(call.closed, "the cut call's stream to close");
    const closedAt = performance.now();
    // Meanwhile the server still answers.
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 503);
    await health.body?.cancel();

    const status = await within(
      parley.child.status,
      "the exit after the grace",
      AFTER_STREAM_GRACE_MS + 5_000,
    );
    assert.equal(status.code, 0);
    const waited = performance.now() - closedAt;
    assert.ok(waited >= AFTER_STREAM_GRACE_MS - 500, `exited ${waited.toFixed(0)} ms after the close`);
    await parley.stdout.done;
    assert.match(
      parley.stdout.lines.join("\n"),
      /No after-stream request came within 2\.5 s for 1 of 1 call\(s\)/,
    );
  } finally {
    await reap(parley);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
