/**
 * The Prometheus exposition, read back with a small parser of the text format: every line must be a
 * HELP, TYPE or sample line, histograms cumulative, and the numbers those of the events fed in.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type CallEvent } from "../../src/calls/call_events.ts";
import { createRelayCounters } from "../../src/calls/relay_counters.ts";
import { createMetrics } from "../../src/metrics/metrics.ts";
import { escapeLabelValue, PROMETHEUS_CONTENT_TYPE } from "../../src/metrics/exposition.ts";
import { createMetricsHandler } from "../../src/api/metrics_route.ts";
import { routeSubset } from "../../testing/route_subset.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: Sample[];
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;

/** Parses the text format strictly: throws on any line that is not HELP, TYPE or a sample. */
function parseExposition(text: string): Exposition {
  assert.ok(text.endsWith("\n"), "exposition must end with a line feed");
  const out: Exposition = { types: new Map(), help: new Map(), samples: [] };
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
    if (meta !== null) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (kind === "TYPE") {
        assert.match(rest, /^(counter|gauge|histogram|summary|untyped)$/, line);
        assert.ok(!out.types.has(name), `TYPE repeated for ${name}`);
        out.types.set(name, rest);
      } else {
        out.help.set(name, rest);
      }
      continue;
    }
    const match = SAMPLE_LINE.exec(line);
    assert.ok(match !== null, `not a sample line: ${JSON.stringify(line)}`);
    const [, name, labelText, valueText] = match as unknown as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    if (labelText !== undefined) {
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < labelText.length) {
        const label = LABEL.exec(labelText);
        assert.ok(label !== null, `bad labels in ${JSON.stringify(line)}`);
        labels[label[1]!] = label[2]!.replace(/\\(.)/g, (_, c: string) => c === "n" ? "\n" : c);
      }
    }
    assert.match(valueText, /^([+-]?\d+(\.\d+)?(e[+-]?\d+)?|[+-]Inf|NaN)$/, line);
    const family = name.replace(/_(bucket|sum|count)$/, "");
    assert.ok(out.types.has(name) || out.types.get(family) === "histogram", `no TYPE before ${name}`);
    out.samples.push({ name, labels, value: Number(valueText.replace("Inf", "Infinity")) });
  }
  return out;
}

function value(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = exposition.samples.filter((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  );
  assert.equal(found.length, 1, `${name} ${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0]!.value;
}

/** Checks a histogram's shape and returns its buckets as [le, count] pairs. */
function histogram(exposition: Exposition, name: string): [string, number][] {
  assert.equal(exposition.types.get(name), "histogram");
  const buckets = exposition.samples.filter((s) => s.name === `${name}_bucket`).map((s) =>
    [s.labels.le!, s.value] as [string, number]
  );
  assert.ok(buckets.length > 1);
  assert.equal(buckets.at(-1)?.[0], "+Inf");
  for (let i = 1; i < buckets.length; i++) {
    const [le, count] = buckets[i]!;
    const [previousLe, previousCount] = buckets[i - 1]!;
    assert.ok(Number(le.replace("Inf", "Infinity")) > Number(previousLe), `le not increasing at ${le}`);
    assert.ok(count >= previousCount, `bucket ${le} not cumulative`);
  }
  assert.equal(buckets.at(-1)?.[1], value(exposition, `${name}_count`));
  return buckets;
}

const usage = {
  inputTextTokens: 500,
  inputAudioTokens: 300,
  inputCachedTokens: 400,
  outputTextTokens: 40,
  outputAudioTokens: 200,
};

function feed(listener: (event: CallEvent) => void): void {
  const events: CallEvent[] = [
    { type: "upstream.connected", at: 1, callSid: "CA1", connectMs: 180 },
    { type: "upstream.connected", at: 1, callSid: "CA2", connectMs: 90 },
    { type: "turn.latency", at: 2, callSid: "CA1", firstAudioSentMs: 400, firstAudioHeardMs: 520 },
    { type: "turn.latency", at: 2, callSid: "CA1", firstAudioSentMs: 300, firstAudioHeardMs: undefined },
    { type: "turn.latency", at: 2, callSid: "CA1", firstAudioSentMs: 2_000, firstAudioHeardMs: 2_500 },
    { type: "turn.latency", at: 2, callSid: "CA2", firstAudioSentMs: 3_000, firstAudioHeardMs: 4_000 },
    { type: "turn.latency", at: 2, callSid: "CA2", firstAudioSentMs: 5_000, firstAudioHeardMs: 6_000 },
    { type: "interruption", at: 3, callSid: "CA1", itemId: "i", audioEndMs: 100, clearLatencyMs: 20 },
    {
      type: "usage",
      at: 4,
      callSid: "CA1",
      model: "gpt-realtime-2.1",
      engine: "realtime",
      usage: { ...usage, responseId: "r1" },
    },
    {
      type: "usage",
      at: 4,
      callSid: "CA2",
      model: "gpt-unknown",
      engine: "realtime",
      usage: { ...usage, responseId: "r2" },
    },
    { type: "call.ended", at: 5, callSid: "CA1", reason: "caller_hung_up", detail: "" },
    { type: "call.ended", at: 5, callSid: "CA2", reason: "caller_hung_up", detail: "" },
    { type: "call.ended", at: 5, callSid: "CA3", reason: "error", detail: "boom" },
  ];
  for (const event of events) listener(event);
}

Deno.test("metrics render valid Prometheus text with the fed counts", async (t) => {
  const metrics = createMetrics();
  feed(metrics.listener);
  const counters = createRelayCounters();
  Object.assign(counters, {
    framesToOpenai: 1_500,
    framesToTwilio: 900,
    malformedFrames: 2,
    truncations: 4,
    staleDeltasDropped: 7,
  });
  const exposition = parseExposition(metrics.render(counters, 3));

  await t.step("every family has HELP and TYPE", () => {
    assert.deepEqual([...exposition.help.keys()], [...exposition.types.keys()]);
  });
  await t.step("gauge and relay counters", () => {
    assert.equal(exposition.types.get("parley_active_calls"), "gauge");
    assert.equal(value(exposition, "parley_active_calls"), 3);
    assert.equal(value(exposition, "parley_frames_relayed_total", { direction: "to_openai" }), 1_500);
    assert.equal(value(exposition, "parley_frames_relayed_total", { direction: "to_twilio" }), 900);
    assert.equal(value(exposition, "parley_malformed_frames_total"), 2);
    assert.equal(value(exposition, "parley_truncations_total"), 4);
    assert.equal(value(exposition, "parley_stale_deltas_dropped_total"), 7);
    assert.equal(value(exposition, "parley_interruptions_total"), 1);
  });
  await t.step("calls by end reason, every reason present", () => {
    assert.equal(exposition.types.get("parley_calls_ended_total"), "counter");
    assert.equal(value(exposition, "parley_calls_ended_total", { reason: "caller_hung_up" }), 2);
    assert.equal(value(exposition, "parley_calls_ended_total", { reason: "error" }), 1);
    assert.equal(value(exposition, "parley_calls_ended_total", { reason: "upstream_refused" }), 0);
  });
  await t.step("turn latency histogram: heard, else sent, in seconds", () => {
    const buckets = new Map(histogram(exposition, "parley_turn_latency_seconds"));
    // Observed: 0.52, 0.3 (sent), 2.5, 4, 6.
    assert.equal(buckets.get("0.1"), 0);
    assert.equal(buckets.get("0.3"), 1);
    assert.equal(buckets.get("0.5"), 1);
    assert.equal(buckets.get("0.75"), 2);
    assert.equal(buckets.get("3"), 3);
    assert.equal(buckets.get("5"), 4);
    assert.equal(buckets.get("+Inf"), 5);
    assert.equal(value(exposition, "parley_turn_latency_seconds_count"), 5);
    assert.ok(Math.abs(value(exposition, "parley_turn_latency_seconds_sum") - 13.32) < 1e-9);
  });
  await t.step("upstream connect histogram", () => {
    const buckets = new Map(histogram(exposition, "parley_upstream_connect_seconds"));
    assert.equal(buckets.get("0.05"), 0);
    assert.equal(buckets.get("0.1"), 1);
    assert.equal(buckets.get("0.2"), 2);
    assert.ok(Math.abs(value(exposition, "parley_upstream_connect_seconds_sum") - 0.27) < 1e-9);
  });
  await t.step("cost counts priced responses only", () => {
    // gpt-realtime-2.1: 150·32 + 150·0.40 + 250·4 + 250·0.40 + 200·64 + 40·24 = 19720 µ$ (see the store test).
    assert.ok(Math.abs(value(exposition, "parley_estimated_cost_usd_total") - 0.01972) < 1e-12);
    assert.equal(value(exposition, "parley_responses_total"), 2);
    assert.equal(value(exposition, "parley_unpriced_responses_total"), 1);
  });
});

Deno.test("metrics escape label values", () => {
  assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  const metrics = createMetrics();
  // A reason outside the type can only come from a bug, but must not break the exposition.
  metrics.listener({
    type: "call.ended",
    at: 1,
    callSid: "CA",
    reason: 'odd "one"\\\n' as "error",
    detail: "",
  });
  const exposition = parseExposition(metrics.render(createRelayCounters(), 0));
  assert.equal(value(exposition, "parley_calls_ended_total", { reason: 'odd "one"\\\n' }), 1);
});

Deno.test("/metrics wants the API token unless public", async (t) => {
  const token = "0123456789abcdef0123";
  const metrics = createMetrics();
  const base = { metrics, counters: createRelayCounters(), activeCalls: () => 2 };
  // Through the route table's row for GET /metrics: its `bearerUnlessPublic` guard.
  const createMetricsRoute = (
    options: typeof base & { apiToken: string | undefined; metricsPublic: boolean },
  ) => routeSubset({ metrics: createMetricsHandler(options) }, options);
  const get = (headers: Record<string, string> = {}) => new Request("http://localhost/metrics", { headers });

  await t.step("no token and not public: 503 telling what to set", async () => {
    const response = await createMetricsRoute({ ...base, apiToken: undefined, metricsPublic: false })(get());
    assert.equal(response.status, 503);
    assert.match(await response.text(), /set API_TOKEN .*or METRICS_PUBLIC=on/);
  });
  await t.step("wrong or missing token: 401", async () => {
    const handler = createMetricsRoute({ ...base, apiToken: token, metricsPublic: false });
    for (const headers of [{}, { authorization: `Bearer ${token}x` }, { authorization: token }]) {
      const response = await handler(get(headers));
      assert.equal(response.status, 401);
      assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="parley"');
      await response.body?.cancel();
    }
  });
  await t.step("right token: the exposition", async () => {
    const handler = createMetricsRoute({ ...base, apiToken: token, metricsPublic: false });
    const response = await handler(get({ authorization: `Bearer ${token}` }));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
    assert.equal(value(parseExposition(await response.text()), "parley_active_calls"), 2);
  });
  await t.step("public: no token needed", async () => {
    const response = await createMetricsRoute({ ...base, apiToken: undefined, metricsPublic: true })(get());
    assert.equal(response.status, 200);
    assert.equal(value(parseExposition(await response.text()), "parley_active_calls"), 2);
  });
});

Deno.test("the test's exposition parser rejects malformed text", () => {
  const bad = [
    "# TYPE x counter\nx 1", // no final line feed
    "# TYPE x counter\nx one\n",
    '# TYPE x counter\nx{a="b} 1\n',
    '# TYPE x counter\nx{a="b"c="d"} 1\n',
    "x 1\n", // no TYPE
    "# TYPE x wrong\nx 1\n",
  ];
  for (const text of bad) {
    assert.throws(() => parseExposition(text), assert.AssertionError, JSON.stringify(text));
  }
  assert.equal(parseExposition('# TYPE x counter\nx{a="q\\"",b=""} 1e-7\n').samples[0]?.labels.a, 'q"');
});

Deno.test("metrics count each engine's usage report as the engine prices it: GPT-Live's cumulative minutes", () => {
  const metrics = createMetrics();
  for (const [callSid, seconds] of [["CA1", 60], ["CA1", 150], ["CA2", 30]] as const) {
    metrics.listener({
      type: "usage",
      at: 1,
      callSid,
      model: "gpt-live-1.1",
      engine: "live",
      usage: { seconds },
    });
  }
  const exposition = parseExposition(metrics.render(createRelayCounters(), 0));
  assert.equal(value(exposition, "parley_session_minutes_total", { engine: "live" }), 3);
  assert.equal(value(exposition, "parley_engine_estimated_cost_usd_total", { engine: "live" }), 0.15);
  assert.equal(value(exposition, "parley_estimated_cost_usd_total"), 0.15);
  assert.equal(value(exposition, "parley_session_minutes_total", { engine: "realtime" }), 0);
  assert.equal(value(exposition, "parley_responses_total"), 0, "time reports are not answers");
});
