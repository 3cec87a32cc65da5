/**
 * Traces across instances (issue 19 §8): two `main.ts` processes on one Postgres with Deno's
 * OpenTelemetry on, exporting OTLP (http/json) to a small collector the test runs. One call's
 * webhook and status callback reach A, its media socket B: every span is in the call's one trace,
 * under the call's root, the upstream connect under B's stream span.
 */

import assert from "node:assert/strict";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { STATUS_CALLBACK_PATH } from "../../src/paths.ts";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import { listeningPort, reap, spawnParley, TEST_PERSONAS_DIR } from "../../testing/parley_process.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import { connectStream, newCallSid, postVoiceWebhook } from "../../testing/twilio_webhook.ts";
import { within } from "../../testing/within.ts";

const ignore = !postgresAvailable();
const AUTH_TOKEN = "traces-auth-token-0123456789";
const PUBLIC = "https://parley.test";

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, string>;
}

/** Collects the spans of every OTLP/JSON trace export posted to it. */
function startCollector(): { url: string; spans: ExportedSpan[]; close(): Promise<void> } {
  const spans: ExportedSpan[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const body = await request.json().catch(() => ({}));
    if (new URL(request.url).pathname === "/v1/traces") {
      for (const resource of body.resourceSpans ?? []) {
        for (const scope of resource.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            const attributes: Record<string, string> = {};
            for (const { key, value } of span.attributes ?? []) {
              attributes[key] = String(value.stringValue ?? value.intValue ?? value.doubleValue ?? "");
            }
            spans.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? "",
              name: span.name,
              attributes,
            });
          }
        }
      }
    }
    return Response.json({});
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, spans, close: () => server.shutdown() };
}

Deno.test({
  name: "traces: one call's spans on two instances share its trace and hang under its root",
  ignore,
  async fn() {
    const server = await startThrowawayPostgres();
    const upstream = FakeRealtimeServer.start();
    const collector = startCollector();
    const dataDir = await Deno.makeTempDir();
    const url = await server.createDatabase();
    const env = (name: string) => ({
      PORT: "0",
      PUBLIC_BASE_URL: PUBLIC,
      OPENAI_API_KEY: "sk-traces-test-key-0123456789",
      OPENAI_REALTIME_URL: upstream.url,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      API_TOKEN: "traces-api-token-0123456789",
      PERSONAS_DIR: TEST_PERSONAS_DIR,
      DEFAULT_PERSONA: "tester",
      INBOUND_PERSONA: "tester",
      DATA_DIR: dataDir,
      DATABASE_URL: url,
      INSTANCE_ID: name,
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "parley",
    });
    const [a, b] = await Promise.all([
      spawnParley("start", env("web-a")),
      spawnParley("start", env("web-b")),
    ]);
    try {
      const [portA, portB] = await Promise.all([listeningPort(a), listeningPort(b)]);
      const callSid = newCallSid();
      const { streamUrl } = await postVoiceWebhook({
        port: portA,
        authToken: AUTH_TOKEN,
        publicBaseUrl: PUBLIC,
      }, callSid);
      const call = await connectStream(
        { port: portB, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC },
        streamUrl!,
        callSid,
      );
      call.start();
      const params = { CallSid: callSid, CallStatus: "in-progress" };
      const status = await fetch(`http://127.0.0.1:${portA}${STATUS_CALLBACK_PATH}`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "X-Twilio-Signature": getExpectedTwilioSignature(
            AUTH_TOKEN,
            `${PUBLIC}${STATUS_CALLBACK_PATH}`,
            params,
          ),
        },
        body: new URLSearchParams(params),
      });
      assert.equal(status.status, 204);
      await b.stdout.waitFor(new RegExp(`Stream started: CallSid=${callSid}`));
      // A pre-warmed on the webhook (session 0); B opens its own for the socket.
      const session = await within(upstream.session(1), "B's upstream session");
      await within(session.waitFor("response.create"), "B's session to be configured");
      call.stop();
      await within(call.closed, "the media socket to close", 15_000);
      await b.stdout.waitFor(/Call ended: CallSid=.* reason=caller_hung_up/);
      // Deno exports what is left when the process exits.
      a.child.kill("SIGTERM");
      b.child.kill("SIGTERM");
      assert.equal((await a.child.status).code, 0);
      assert.equal((await b.child.status).code, 0);

      const traceId = callSid.slice(2);
      const root = traceId.slice(0, 16);
      const ours = collector.spans.filter((s) => s.attributes["twilio.call_sid"] === callSid);
      const named = (name: string) => ours.find((s) => s.name === name);
      for (const span of ours) assert.equal(span.traceId, traceId, `${span.name} is in the call's trace`);
      const webhook = named("twilio.voice_webhook");
      const callback = named("twilio.status_callback");
      const stream = named("twilio.media_stream");
      const connect = named("gen_ai.connect");
      assert.ok(webhook && callback && stream && connect, ours.map((s) => s.name).join(", "));
      assert.equal(webhook.attributes["parley.instance"], "web-a");
      assert.equal(callback.attributes["parley.instance"], "web-a");
      assert.equal(stream.attributes["parley.instance"], "web-b");
      assert.equal(stream.attributes["parley.end_reason"], "caller_hung_up");
      assert.equal(stream.attributes["gen_ai.request.model"], "gpt-realtime-2.1");
      for (const span of [webhook, callback, stream]) {
        assert.equal(span.parentSpanId, root, `${span.name} under the root`);
      }
      assert.equal(connect.parentSpanId, stream.spanId, "the upstream connect under B's stream span");
    } finally {
      await Promise.all([reap(a), reap(b)]);
      await collector.close();
      await upstream.close();
      await Deno.remove(dataDir, { recursive: true });
      await server.stop();
    }
  },
});
