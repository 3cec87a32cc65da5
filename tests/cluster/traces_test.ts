/**
 * Traces (issue 19 §8): `main.ts` processes with Deno's OpenTelemetry on, exporting OTLP (http/json)
 * to a small collector the test runs.
 *
 * - Across instances: two processes on one Postgres. One call's webhook and status callback reach A,
 *   its media socket B: every span is in the call's one trace, under the call's root, the upstream
 *   connect under B's stream span.
 * - Inside a call: one process (SQLite), a persona with a tool. The fake upstream calls the tool,
 *   the caller takes two turns, then the upstream drops: a `gen_ai.turn` span per agent turn with its
 *   latency sent and heard, an `execute_tool <name>` span with `gen_ai.tool.name`, and the
 *   `gen_ai.connect` and `gen_ai.reconnect` spans, all under the stream span in the call's trace.
 */

import assert from "node:assert/strict";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { STATUS_CALLBACK_PATH } from "../../src/paths.ts";
import { FakeRealtimeServer, toneBytes } from "../../testing/fake_realtime.ts";
import { listeningPort, reap, spawnParley, TEST_PERSONAS_DIR } from "../../testing/parley_process.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import { connectStream, newCallSid, postVoiceWebhook } from "../../testing/twilio_webhook.ts";
import { within } from "../../testing/within.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";

const ignore = !postgresAvailable();
const AUTH_TOKEN = "traces-auth-token-0123456789";
const PUBLIC = "https://parley.test";

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, string>;
  /** The span's status code: 0 unset, 1 ok, 2 error. */
  status: number;
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
              status: Number(span.status?.code ?? 0),
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

/** The log line of a turn whose first audio Twilio confirmed playing: heard, then sent. */
const TURN_LINE = /Turn latency: (\d+) ms \(first audio sent after (\d+) ms\)/;

/** A persona with one tool the fake upstream calls (the tests' own, never the user's `personas/`). */
const TOOL_PERSONA = `
export default {
  voice: "coral",
  instructions: "You are testing traces.",
  greeting: "Say hello first.",
  fallbackMessage: "Away.",
  tools: [{
    name: "lookup_order",
    description: "Looks up an order.",
    parameters: { type: "object", properties: { order: { type: "string" } }, required: ["order"] },
    run: (args) => ({ order: args.order, status: "shipped" }),
  }, {
    name: "broken",
    description: "Always fails.",
    run: () => { throw new Error("the order system is down"); },
  }],
};
`;

Deno.test("traces: a span per agent turn with its latency, one per tool call, and the upstream connect and reconnect", async () => {
  await withPersonaDir({ "tracer.ts": TOOL_PERSONA }, async (personas) => {
    const upstream = FakeRealtimeServer.start();
    const collector = startCollector();
    const dataDir = await Deno.makeTempDir();
    const parley = await spawnParley("start", {
      PORT: "0",
      PUBLIC_BASE_URL: PUBLIC,
      OPENAI_API_KEY: "sk-traces-test-key-0123456789",
      OPENAI_REALTIME_URL: upstream.url,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      PERSONAS_DIR: personas,
      DEFAULT_PERSONA: "tracer",
      INBOUND_PERSONA: "tracer",
      DATA_DIR: dataDir,
      INSTANCE_ID: "solo",
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "parley",
    });
    try {
      const target = { port: await listeningPort(parley), authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC };
      const callSid = newCallSid();
      const { streamUrl } = await postVoiceWebhook(target, callSid);
      const call = await connectStream(target, streamUrl!, callSid);
      call.start();
      const first = await within(upstream.session(0), "the pre-warmed session");
      await within(first.waitFor("response.create"), "the greeting asked for", 15_000);
      // The greeting ends with a tool call; the relay answers it and asks for the next response.
      await first.streamResponse({
        responseId: "resp_greeting",
        itemId: "item_greeting",
        audio: toneBytes(100, 0x21),
        functionCalls: [
          { callId: "call_lookup", name: "lookup_order", arguments: '{"order":"42"}' },
          { callId: "call_broken", name: "broken", arguments: "{}" },
        ],
      });
      await parley.stdout.waitFor(/Tool call: CallSid=CA\w+ lookup_order\(.*\) → ok/);
      await parley.stdout.waitFor(/Tool call: CallSid=CA\w+ broken\(.*\) → failed/);
      await within(
        first.waitFor("response.create", () => first.eventsOf("response.create").length === 2),
        "the response after the tool's output",
      );
      await first.streamResponse({
        responseId: "resp_after",
        itemId: "item_after",
        audio: toneBytes(100, 0x22),
      });
      const turnLines = () => parley.stdout.lines.filter((line) => TURN_LINE.test(line));
      // Two caller turns, each answered; each turn's latency is heard once Twilio echoes its first mark.
      for (const turn of [1, 2]) {
        first.speechStarted(`item_caller_${turn}`);
        first.speechStopped(`item_caller_${turn}`);
        await first.streamResponse({
          responseId: `resp_${turn}`,
          itemId: `item_${turn}`,
          audio: toneBytes(200, 0x30 + turn),
        });
        await within(call.waitForEcho(`item_${turn}:0`), `turn ${turn}'s first mark echoed`);
        while (turnLines().length < turn) {
          await parley.stdout.waitFor(TURN_LINE, parley.stdout.lines.length);
        }
      }
      // The upstream drops: the relay opens a new session and goes on.
      first.drop();
      await within(upstream.session(1), "the new session", 5_000);
      await parley.stdout.waitFor(/Reconnected to OpenAI for CallSid=CA\w+ \(dropped\)/);
      call.stop();
      await within(call.closed, "the media socket to close", 15_000);
      await parley.stdout.waitFor(/Call ended: CallSid=.* reason=caller_hung_up/);
      // Deno exports what is left when the process exits.
      parley.child.kill("SIGTERM");
      assert.equal((await parley.child.status).code, 0);

      const traceId = callSid.slice(2);
      const ours = collector.spans.filter((s) => s.attributes["twilio.call_sid"] === callSid);
      for (const span of ours) assert.equal(span.traceId, traceId, `${span.name} is in the call's trace`);
      const stream = ours.find((s) => s.name === "twilio.media_stream");
      assert.ok(stream, ours.map((s) => s.name).join(", "));
      assert.equal(stream.parentSpanId, traceId.slice(0, 16), "the stream under the call's root");
      const under = (name: string) => {
        const spans = ours.filter((s) => s.name === name);
        for (const span of spans) {
          assert.equal(span.parentSpanId, stream.spanId, `${name} under the stream span`);
        }
        return spans;
      };

      const turns = under("gen_ai.turn");
      assert.equal(turns.length, turnLines().length, "one span per agent turn");
      assert.equal(turns.length, 2);
      for (const turn of turns) {
        const sent = Number(turn.attributes["parley.turn.latency_sent_ms"]);
        const heard = Number(turn.attributes["parley.turn.latency_heard_ms"]);
        assert.ok(Number.isFinite(sent) && sent >= 0, `latency sent: ${sent}`);
        assert.ok(Number.isFinite(heard) && heard >= sent, `latency heard ${heard} ≥ sent ${sent}`);
      }
      // The same figures the log printed, turn by turn.
      assert.deepEqual(
        turns.map((t) =>
          `${t.attributes["parley.turn.latency_heard_ms"]}/${t.attributes["parley.turn.latency_sent_ms"]}`
        )
          .sort(),
        turnLines().map((line) => {
          const [, heard, sent] = TURN_LINE.exec(line)!;
          return `${heard}/${sent}`;
        }).sort(),
      );

      const tools = under("execute_tool lookup_order");
      assert.equal(tools.length, 1, ours.map((s) => s.name).join(", "));
      assert.equal(tools[0]!.attributes["gen_ai.tool.name"], "lookup_order");
      assert.equal(tools[0]!.attributes["gen_ai.operation.name"], "execute_tool");
      assert.equal(tools[0]!.attributes["gen_ai.tool.call.id"], "call_lookup");
      assert.equal(tools[0]!.attributes["gen_ai.tool.type"], "function");
      assert.equal(tools[0]!.attributes["error.type"], undefined, "the tool answered");
      assert.equal(tools[0]!.status, 0, "unset: the tool answered");
      const broken = under("execute_tool broken");
      assert.equal(broken.length, 1);
      assert.equal(broken[0]!.attributes["gen_ai.tool.name"], "broken");
      assert.equal(broken[0]!.attributes["error.type"], "failed");
      assert.equal(broken[0]!.status, 2, "ERROR: the tool threw");

      assert.equal(under("gen_ai.connect").length, 1, "the upstream connect");
      const reconnects = under("gen_ai.reconnect");
      assert.equal(reconnects.length, 1, "the reconnect after the drop");
      assert.equal(reconnects[0]!.attributes["parley.reconnect.cause"], "dropped");
      assert.equal(reconnects[0]!.attributes["parley.reconnect.tries"], "1");
    } finally {
      await reap(parley);
      await collector.close();
      await upstream.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
});
