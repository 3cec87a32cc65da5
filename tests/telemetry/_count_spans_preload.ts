/**
 * Preloaded into a `main.ts` process (`--preload`) that runs without `OTEL_DENO`: registers a tracer
 * provider of its own as `@opentelemetry/api`'s global, so every span Parley starts is printed on
 * stdout (`span-counter: span <name>`), though Deno's OpenTelemetry is off and would make it a no-op.
 *
 * @module
 */

import { INVALID_SPAN_CONTEXT, type Span, trace, type Tracer, type TracerProvider } from "@opentelemetry/api";

const startSpan = (name: string): Span => {
  console.log(`span-counter: span ${name}`);
  return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
};

const tracer: Tracer = {
  startSpan,
  startActiveSpan(name: string, ...rest: unknown[]) {
    const body = rest[rest.length - 1] as (span: Span) => unknown;
    return body(startSpan(name));
  },
} as Tracer;

const provider: TracerProvider = { getTracer: () => tracer };
console.log(`span-counter: registered ${trace.setGlobalTracerProvider(provider)}`);
