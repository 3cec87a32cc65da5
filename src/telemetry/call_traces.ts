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
  /** A finished span `[start, end]` (epoch ms) under `parent` (the stream's span, else the call's root). */
  const done = (
    callSid: string,
    name: string,
    start: number,
    end: number,
    attributes: Record<string, string | number>,
    failed?: string,
  ) => {
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
    const { callSid, at } = event;
    switch (event.type) {
      case "call.webhook":
        return done(callSid, "twilio.voice_webhook", at, at, {
          "parley.persona": event.persona,
          "parley.direction": event.direction,
        });
      case "call.placed":
        return done(callSid, "parley.place_call", at, at, { "parley.persona": event.persona });
      case "call.status":
        return done(callSid, "twilio.status_callback", at, at, { "twilio.call_status": event.status });
      case "call.after_stream":
        return done(callSid, "twilio.connect_action", at, at, { "parley.after_stream": event.action });
      case "call.started": {
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
        return;
      }
      case "upstream.connected":
        return done(callSid, "gen_ai.connect", at - event.connectMs, at, {
          "gen_ai.provider.name": "openai",
        });
      case "reconnected":
        return done(callSid, "gen_ai.reconnect", at - event.gapMs, at, {
          "gen_ai.provider.name": "openai",
          "parley.reconnect.cause": event.cause,
          "parley.reconnect.tries": event.tries,
        });
      case "turn.latency":
        return done(callSid, "gen_ai.turn", at - event.firstAudioSentMs, at, {
          "parley.turn.latency_sent_ms": event.firstAudioSentMs,
          ...(event.firstAudioHeardMs === undefined
            ? {}
            : { "parley.turn.latency_heard_ms": event.firstAudioHeardMs }),
        });
      case "tool.called":
        return done(
          callSid,
          `execute_tool ${event.name}`,
          at - event.durationMs,
          at,
          {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": event.name,
            "gen_ai.tool.call.id": event.callId,
            // Every persona tool and built-in action is a function tool to the model.
            "gen_ai.tool.type": "function",
            "parley.tool.status": event.status,
            // The GenAI conventions' error attribute: the failure's class (failed, timed_out, …).
            ...(event.status === "ok" ? {} : { "error.type": event.status }),
          },
          event.status === "ok" ? undefined : event.status,
        );
      case "call.ended": {
        const stream = streams.get(callSid);
        if (stream === undefined) return;
        streams.delete(callSid);
        stream.setAttribute("parley.end_reason", event.reason);
        stream.end(at);
        return;
      }
    }
  };
  return {
    listener,
    close() {
      for (const span of streams.values()) span.end();
      streams.clear();
    },
  };
}
