/**
 * What `/metrics` counts from the call events: ends by reason, turn latency, connect time,
 * interruptions, responses and their cost, each engine's calls, minutes and cost.
 *
 * The turn latency histogram observes the same figure as the call record's p50/p95: the heard latency,
 * or the sent latency for a turn whose playback Twilio never confirmed.
 *
 * @module
 */

import { type CallEvent, END_REASONS } from "../calls/call_events.ts";
import { engineForModel, type EngineId, ENGINES } from "../engines/voices.ts";
import type { PriceTable } from "../engines/prices.ts";
import { ENGINE_REGISTRY } from "../engines/registry.ts";
import { type Exposition, Histogram } from "./exposition.ts";

/** Turn latency buckets, seconds: fine between 0.1 and 3 s, where voice agents live. */
export const TURN_LATENCY_BUCKETS: readonly number[] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5];
/** Upstream connect time buckets, seconds. */
export const CONNECT_TIME_BUCKETS: readonly number[] = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5];
/** Unplayed agent audio when the model stopped (GPT-Live), seconds; above 0.2 s is worth a `clear`. */
export const UNPLAYED_AUDIO_BUCKETS: readonly number[] = [0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

/** The tallies of every call's events, priced with `prices`. */
export class CallTallies {
  #ended = new Map<string, number>(END_REASONS.map((reason) => [reason, 0]));
  #turnLatency = new Histogram(TURN_LATENCY_BUCKETS);
  #connectTime = new Histogram(CONNECT_TIME_BUCKETS);
  #interruptions = 0;
  #responses = 0;
  #unpricedResponses = 0;
  #costUsd = 0;
  #unplayedAtStop = new Histogram(UNPLAYED_AUDIO_BUCKETS);
  #byEngine = new Map<EngineId, { calls: number; minutes: number; costUsd: number }>(
    ENGINES.map((engine) => [engine, { calls: 0, minutes: 0, costUsd: 0 }]),
  );
  /** Minutes and cost so far per call whose engine reports totals (cumulative reports). */
  #callTotals = new Map<string, { minutes: number; costUsd: number }>();
  #prices: PriceTable;

  /** Tallies priced with `prices`. */
  constructor(prices: PriceTable) {
    this.#prices = prices;
  }

  /** Counts one call event. Never throws. */
  readonly listener = (event: CallEvent): void => {
    switch (event.type) {
      case "call.started":
        this.#byEngine.get(event.engine ?? engineForModel(event.model))!.calls++;
        break;
      case "call.ended":
        this.#ended.set(event.reason, (this.#ended.get(event.reason) ?? 0) + 1);
        this.#callTotals.delete(event.callSid);
        break;
      case "agent.stopped":
        this.#unplayedAtStop.observe(event.unplayedMs / 1000);
        break;
      case "turn.latency":
        this.#turnLatency.observe((event.firstAudioHeardMs ?? event.firstAudioSentMs) / 1000);
        break;
      case "upstream.connected":
        this.#connectTime.observe(event.connectMs / 1000);
        break;
      case "interruption":
        this.#interruptions++;
        break;
      case "call.analyzed":
        // The post-call analysis's own tokens are part of the cost (not of an engine's).
        if (event.state === "done" && event.costUsd !== null) this.#costUsd += event.costUsd;
        break;
      case "usage": {
        // The engine's own rules read its report (`src/engines/<engine>/usage.ts`).
        const summary = ENGINE_REGISTRY.describeUsage(event.engine, event.usage);
        const price = ENGINE_REGISTRY.priceUsage(event.engine, event.model, event.usage, this.#prices);
        const engine = this.#byEngine.get(event.engine)!;
        if (summary.response !== undefined) this.#responses++;
        const before = this.#callTotals.get(event.callSid) ?? { minutes: 0, costUsd: 0 };
        const minutes = Math.max(before.minutes, summary.minutes ?? 0);
        engine.minutes += minutes - before.minutes;
        let added: number;
        if (summary.cost === "increment") {
          if (price === null) this.#unpricedResponses++;
          added = price ?? 0;
        } else {
          // A total so far: the call's cost grows to it (an unknown price keeps the last known).
          added = Math.max(0, (price ?? before.costUsd) - before.costUsd);
        }
        engine.costUsd += added;
        this.#costUsd += added;
        if (summary.cost === "total" || summary.minutes !== undefined) {
          this.#callTotals.set(event.callSid, { minutes, costUsd: before.costUsd + added });
        }
        break;
      }
    }
  };

  /** Calls ended by reason, then the turn latency and connect time histograms. */
  writeEndsAndLatency(x: Exposition): void {
    x.family("parley_calls_ended_total", "counter", "Calls ended, by end reason.");
    for (const [reason, count] of this.#ended) x.sample("parley_calls_ended_total", count, { reason });

    x.histogram(
      "parley_turn_latency_seconds",
      "Caller stops speaking to agent audio heard (sent, when playback was never confirmed).",
      this.#turnLatency,
    );
    x.histogram("parley_upstream_connect_seconds", "Time to open the OpenAI socket.", this.#connectTime);
  }

  /** Interruptions, responses and their cost, then each engine's calls, minutes and cost. */
  writeUsage(x: Exposition): void {
    x.family("parley_interruptions_total", "counter", "Times the caller talked over the agent.");
    x.sample("parley_interruptions_total", this.#interruptions);

    x.family("parley_responses_total", "counter", "Realtime responses with a usage report.");
    x.sample("parley_responses_total", this.#responses);
    x.family(
      "parley_unpriced_responses_total",
      "counter",
      "Responses of a model without a price (not in the cost).",
    );
    x.sample("parley_unpriced_responses_total", this.#unpricedResponses);
    x.family(
      "parley_estimated_cost_usd_total",
      "counter",
      "Estimated OpenAI cost of all priced responses, session minutes and post-call analyses, USD.",
    );
    x.sample("parley_estimated_cost_usd_total", this.#costUsd);

    x.family("parley_calls_started_total", "counter", "Calls started, by engine (realtime or live).");
    for (const [engine, e] of this.#byEngine) x.sample("parley_calls_started_total", e.calls, { engine });
    x.family("parley_session_minutes_total", "counter", "Session minutes of engines billed by the minute.");
    for (const [engine, e] of this.#byEngine) x.sample("parley_session_minutes_total", e.minutes, { engine });
    x.family("parley_engine_estimated_cost_usd_total", "counter", "Estimated OpenAI cost by engine, USD.");
    for (const [engine, e] of this.#byEngine) {
      x.sample("parley_engine_estimated_cost_usd_total", e.costUsd, { engine });
    }
    x.histogram(
      "parley_unplayed_audio_at_stop_seconds",
      "Agent audio still unplayed at Twilio when the model stopped speaking (GPT-Live owns barge-in).",
      this.#unplayedAtStop,
    );
  }
}
