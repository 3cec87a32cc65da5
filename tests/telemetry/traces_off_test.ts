/**
 * `OTEL_DENO` unset means no traces: a `main.ts` process given an OTLP endpoint but no `OTEL_DENO`
 * answers a call (webhook, media stream, status callback) and exports nothing, and Parley starts no
 * span at all (a preloaded tracer provider would print each one). The same call with
 * `OTEL_DENO=true` exports the call's spans to the same collector, so the collector and the call
 * are shown to be able to see them.
 */

import assert from "node:assert/strict";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { STATUS_CALLBACK_PATH } from "../../src/paths.ts";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import {
  listeningPort,
  PROCESS_TARGET,
  processEnv,
  reap,
  spawnParley,
} from "../../testing/parley_process.ts";
import { connectStream, newCallSid, postVoiceWebhook } from "../../testing/twilio_webhook.ts";
import { within } from "../../testing/within.ts";

const PRELOAD = new URL("./_count_spans_preload.ts", import.meta.url).pathname;

/** An OTLP/HTTP collector that keeps the path of every export and the names of the spans in them. */
function startCollector() {
  const exports: string[] = [];
  const spans: { name: string; callSid: string | undefined }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    exports.push(new URL(request.url).pathname);
    const body = await request.json().catch(() => ({}));
    for (const resource of body.resourceSpans ?? []) {
      for (const scope of resource.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          const sid = (span.attributes ?? []).find((a: { key: string }) => a.key === "twilio.call_sid");
          spans.push({ name: span.name, callSid: sid?.value?.stringValue });
        }
      }
    }
    return Response.json({});
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, exports, spans, close: () => server.shutdown() };
}

/**
 * Runs `main.ts` with `env` (and `extraFlags`), takes one call through it end to end and stops it
 * with SIGTERM: its CallSid and its stdout.
 */
async function oneCall(
  upstream: FakeRealtimeServer,
  env: Record<string, string>,
  extraFlags: string[] = [],
): Promise<{ callSid: string; stdout: string[] }> {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_traces_off_" });
  const parley = await spawnParley("start", processEnv({ upstreamUrl: upstream.url, dataDir }, env), {
    extraFlags,
  });
  try {
    const target = { port: await listeningPort(parley), ...PROCESS_TARGET };
    const callSid = newCallSid();
    const { status, streamUrl } = await postVoiceWebhook(target, callSid);
    assert.equal(status, 200);
    const call = await connectStream(target, streamUrl!, callSid);
    call.start();
    await parley.stdout.waitFor(new RegExp(`Stream started: CallSid=${callSid}`));
    const params = { CallSid: callSid, CallStatus: "in-progress" };
    const callback = await fetch(`http://127.0.0.1:${target.port}${STATUS_CALLBACK_PATH}`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": getExpectedTwilioSignature(
          PROCESS_TARGET.authToken,
          `${PROCESS_TARGET.publicBaseUrl}${STATUS_CALLBACK_PATH}`,
          params,
        ),
      },
      body: new URLSearchParams(params),
    });
    await callback.body?.cancel();
    assert.equal(callback.status, 204);
    call.stop();
    await within(call.closed, "the media socket to close", 15_000);
    await parley.stdout.waitFor(new RegExp(`Call ended: CallSid=${callSid}`));
    // Deno exports what is left when the process exits.
    parley.child.kill("SIGTERM");
    assert.equal((await parley.child.status).code, 0);
    return { callSid, stdout: parley.stdout.lines };
  } finally {
    await reap(parley);
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test("traces: without OTEL_DENO a call exports nothing and starts no span; with OTEL_DENO=true it exports its spans", async () => {
  const upstream = FakeRealtimeServer.start();
  const collector = startCollector();
  const otlp = {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_SERVICE_NAME: "parley",
  };
  try {
    const off = await oneCall(upstream, otlp, ["--preload", PRELOAD]);
    assert.ok(
      off.stdout.includes("span-counter: registered true"),
      "the preloaded tracer provider is the global one",
    );
    assert.deepEqual(
      off.stdout.filter((line) => line.startsWith("span-counter: span")),
      [],
      "no span started",
    );
    assert.deepEqual(collector.exports, [], "nothing exported");

    const on = await oneCall(upstream, { ...otlp, OTEL_DENO: "true" });
    const names = collector.spans.filter((span) => span.callSid === on.callSid).map((span) => span.name);
    for (const name of ["twilio.voice_webhook", "twilio.status_callback", "twilio.media_stream"]) {
      assert.ok(names.includes(name), `${name} exported with OTEL_DENO=true: ${names.join(", ")}`);
    }
  } finally {
    await collector.close();
    await upstream.close();
  }
});
