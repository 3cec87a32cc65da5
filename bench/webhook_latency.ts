/**
 * The voice webhook's latency through Parley's whole HTTP front (throttle, route table, Twilio
 * signature, form, admission, TwiML): `deno run --allow-all bench/webhook_latency.ts [--requests=N]`.
 *
 * An in-process Parley (the test harness: fake upstreams, the tests' personas) on 127.0.0.1 gets N
 * signed webhooks for new CallSids, one after another over one keep-alive connection; the signature is
 * computed before the clock starts. Prints p50, p99 and max in ms (the first 50 requests warm up and
 * are not counted). Each answered call pre-warms a session on the fake upstream; a short pre-warm
 * lifetime closes them again.
 *
 * @module
 */

import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { VOICE_WEBHOOK_PATH } from "../src/paths.ts";
import {
  newCallSid,
  startTestParley,
  TEST_AUTH_TOKEN,
  TEST_PUBLIC_BASE_URL,
} from "../testing/parley_harness.ts";

const WARM_UP = 50;

/** Latency figures, ms. */
export interface WebhookLatency {
  requests: number;
  p50: number;
  p99: number;
  max: number;
}

/** Posts `requests` signed voice webhooks (after the warm-up) and returns their latency. */
export async function measureWebhookLatency(requests: number): Promise<WebhookLatency> {
  const parley = await startTestParley({ env: { MAX_CONCURRENT_CALLS: "1000000" }, prewarmTtlMs: 500 });
  const samples: number[] = [];
  try {
    for (let i = 0; i < WARM_UP + requests; i++) {
      const form = { CallSid: newCallSid(), AccountSid: "AC00000000000000000000000000000000" };
      const signature = getExpectedTwilioSignature(
        TEST_AUTH_TOKEN,
        `${TEST_PUBLIC_BASE_URL}${VOICE_WEBHOOK_PATH}`,
        form,
      );
      const body = new URLSearchParams(form).toString();
      const started = performance.now();
      const response = await fetch(`${parley.origin}${VOICE_WEBHOOK_PATH}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature },
        body,
      });
      const twiml = await response.text();
      const elapsed = performance.now() - started;
      if (response.status !== 200 || !twiml.includes("<Stream")) {
        throw new Error(`The webhook answered ${response.status}: ${twiml.slice(0, 200)}`);
      }
      if (i >= WARM_UP) samples.push(elapsed);
    }
  } finally {
    await parley.close();
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  return { requests, p50: at(0.5), p99: at(0.99), max: samples[samples.length - 1]! };
}

if (import.meta.main) {
  const given = Deno.args.find((arg) => arg.startsWith("--requests="))?.slice("--requests=".length) ?? "2000";
  const requests = /^\d{1,7}$/.test(given) ? Number(given) : 0;
  if (requests < 1) {
    console.error(`--requests: "${given.slice(0, 40)}" is not a whole number of 1 or more`);
    Deno.exit(2);
  }
  const result = await measureWebhookLatency(requests);
  console.log(
    `voice webhook, ${result.requests} signed POSTs: p50 ${result.p50.toFixed(3)} ms, p99 ${
      result.p99.toFixed(3)
    } ms, max ${result.max.toFixed(3)} ms`,
  );
}
