/**
 * Traces of calls (issue 19 §8), built from the call events each instance sees, through
 * `npm:@opentelemetry/api` and Deno's built-in OpenTelemetry (`OTEL_DENO=true`, the standard `OTEL_*`
 * variables say where to export). One trace per call across every instance that touched it: the
 * trace id is the CallSid's 32 hex digits, and every span's parent is the call's root span id (the
 * first 16 of them), so instances agree without passing context. Spans:
 *
 * - `twilio.voice_webhook`, `twilio.status_callback`, `twilio.connect_action`, `parley.place_call`:
 *   the requests, on the instance that answered them;
 * - `twilio.media_stream`: the stream's life on the instance that relayed it, with the persona, the
 *   model and the end reason; under it, per agent turn `gen_ai.turn` (its latency sent and heard),
 *   per tool call `execute_tool <name>`, and `gen_ai.connect` / `gen_ai.reconnect` for upstream
 *   (re)connects (OpenTelemetry GenAI attribute names where they fit).
 *
 * With `OTEL_DENO` unset `main.ts` does not subscribe this at all: nothing is built, nothing is exported.
 *
 * @module
 */

import { type Context, context, type Span, SpanStatusCode, trace, TraceFlags } from "@opentelemetry/api";
import type { CallEvent } from "../calls/call_events.ts";

/** The tracer's name (the instrumentation scope). */
export const TRACER_NAME = "parley";

/** The call's trace context: trace id from the CallSid, the root span id from its first half. */
export function callTraceContext(callSid: string): Context | undefined {
  const hex = callSid.slice(2).toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex) || /^0+$/.test(hex)) return undefined;
  return trace.setSpanContext(context.active(), {
    traceId: hex,
    spanId: hex.slice(0, 16) === "0000000000000000" ? "0000000000000001" : hex.slice(0, 16),
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });
}

/**
 * Turns call events into spans. Returns the listener to subscribe to the hub, and `close()` which
 * ends the streams still open (shutdown).
 *
 * @example
 * ```ts
 * const traces = traceCalls(config.instanceId);
 * const off = hub.subscribe(traces.listener);
 * ```
 */
export function traceCalls(instance: string): { listener: (event: CallEvent) => void; close(): void } {
  const tracer = trace.getTracer(TRACER_NAME);
  const streams = new Map<string, Span>();
  const base = (callSid: string) => ({ "twilio.call_sid": callSid, "parley.instance": instance });

  /** Opens the stream's span under the call's root; the call's other spans go under it until it ends. */
  const startStream = (event: Extract<CallEvent, { type: "call.started" }>) => {
    const { callSid, at } = event;
    const root = callTraceContext(callSid);
    if (root === undefined || streams.has(callSid)) return;
    streams.set(
      callSid,
      tracer.startSpan("twilio.media_stream", {
        startTime: at,
        attributes: {
          ...base(callSid),
          "parley.persona": event.persona,
          "gen_ai.provider.name": "openai",
          "gen_ai.request.model": event.model,
        },
      }, root),
    );
  };
  /** Ends the stream's span with the call's end reason. */
  const endStream = (event: Extract<CallEvent, { type: "call.ended" }>) => {
    const stream = streams.get(event.callSid);
    if (stream === undefined) return;
    streams.delete(event.callSid);
    stream.setAttribute("parley.end_reason", event.reason);
    stream.end(event.at);
  };
  /** Records a finished span under `parent` (the stream's span, else the call's root). */
  const record = (callSid: string, { name, start, end, attributes, failed }: FinishedSpan) => {
    const root = callTraceContext(callSid);
    if (root === undefined) return;
    const stream = streams.get(callSid);
    const parent = stream === undefined ? root : trace.setSpan(root, stream);
    const span = tracer.startSpan(
      name,
      { startTime: start, attributes: { ...base(callSid), ...attributes } },
      parent,
    );
    if (failed !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: failed });
    span.end(end);
  };

  const listener = (event: CallEvent) => {
    if (event.type === "call.started") return startStream(event);
    if (event.type === "call.ended") return endStream(event);
    const span = finishedSpanOf(event);
    if (span !== undefined) record(event.callSid, span);
  };
  return {
    listener,
    close() {
      for (const span of streams.values()) span.end();
      streams.clear();
    },
  };
}

/** A span whose start and end (epoch ms) one event gives: every span but the stream's. */
interface FinishedSpan {
  name: string;
  start: number;
  end: number;
  attributes: Record<string, string | number>;
  /** Marks the span failed, with this message. */
  failed?: string;
}

/** The finished span an event stands for (OpenTelemetry GenAI names where they fit), if any. */
function finishedSpanOf(event: CallEvent): FinishedSpan | undefined {
  const { at } = event;
  /** A span of `ms` that ended at the event (0 for a request answered then). */
  const lasting = (name: string, ms: number, attributes: FinishedSpan["attributes"]): FinishedSpan => ({
    name,
    start: at - ms,
    end: at,
    attributes,
  });
  switch (event.type) {
    case "call.webhook":
      return lasting("twilio.voice_webhook", 0, {
        "parley.persona": event.persona,
        "parley.direction": event.direction,
      });
    case "call.placed":
      return lasting("parley.place_call", 0, { "parley.persona": event.persona });
    case "call.status":
      return lasting("twilio.status_callback", 0, { "twilio.call_status": event.status });
    case "call.after_stream":
      return lasting("twilio.connect_action", 0, { "parley.after_stream": event.action });
    case "upstream.connected":
      return lasting("gen_ai.connect", event.connectMs, { "gen_ai.provider.name": "openai" });
    case "reconnected":
      return lasting("gen_ai.reconnect", event.gapMs, {
        "gen_ai.provider.name": "openai",
        "parley.reconnect.cause": event.cause,
        "parley.reconnect.tries": event.tries,
      });
    case "turn.latency":
      return lasting("gen_ai.turn", event.firstAudioSentMs, {
        "parley.turn.latency_sent_ms": event.firstAudioSentMs,
        ...(event.firstAudioHeardMs === undefined
          ? {}
          : { "parley.turn.latency_heard_ms": event.firstAudioHeardMs }),
      });
    case "tool.called": {
      const span = lasting(`execute_tool ${event.name}`, event.durationMs, {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": event.name,
        "gen_ai.tool.call.id": event.callId,
        // Every persona tool and built-in action is a function tool to the model.
        "gen_ai.tool.type": "function",
        "parley.tool.status": event.status,
        // The GenAI conventions' error attribute: the failure's class (failed, timed_out, …).
        ...(event.status === "ok" ? {} : { "error.type": event.status }),
      });
      return event.status === "ok" ? span : { ...span, failed: event.status };
    }
    default:
      return undefined;
  }
}
