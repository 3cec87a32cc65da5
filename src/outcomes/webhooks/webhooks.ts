/**
 * Webhooks, wired: listens to the call events (`call.started`, `call.ended`), builds each payload
 * from the stored record, puts it in the durable outbox and wakes the delivery worker. Other
 * modules (post-call analysis, recordings) send their events with {@linkcode Webhooks.enqueue}.
 *
 * @module
 */

import type { CallEvent, CallEventListener } from "../../calls/call_events.ts";
import type { Logger } from "../../log.ts";
import type { CallRecords } from "../../store/ports.ts";
import type { WebhookDelivery, WebhookOutbox } from "../../store/webhook_outbox.ts";
import { DELIVERY_DEFAULTS, DeliveryWorker, type DeliveryWorkerOptions } from "./delivery_worker.ts";
import {
  callAnalyzedData,
  callEndedData,
  callStartedData,
  type WebhookEnvelope,
  type WebhookEventType,
  webhookMessageId,
} from "./payloads.ts";
import { createWebhookSigner } from "./signer.ts";
import { assertStoreWriting, StoreRetry } from "../../store/store_retry.ts";
import type { WebhookSettings } from "../../webhook_settings.ts";

/** Timing and transport a test (or the benchmark) may replace. */
export type WebhookTiming = Partial<
  Pick<
    DeliveryWorkerOptions,
    "now" | "fetch" | "random" | "pollMs" | "timeoutMs" | "leaseMs" | "firstRetryMs" | "maxRetryMs"
  >
>;

/** Options of {@linkcode startWebhooks}. */
export interface WebhooksOptions {
  outbox: WebhookOutbox;
  /** `WEBHOOK_URL` and `WEBHOOK_SECRET`; undefined: nothing is enqueued or sent (the log stays readable). */
  settings: WebhookSettings | undefined;
  /** The records the payloads are built from. */
  calls: CallRecords | undefined;
  instance: string;
  log: Logger;
  timing?: WebhookTiming;
}

/** The running webhooks. */
export interface Webhooks {
  /** True when `WEBHOOK_URL` is set. */
  readonly enabled: boolean;
  /** For the bus (subscribe after the store's listener, so the record holds the event). */
  readonly listener: CallEventListener;
  /**
   * Puts event `type` about `callSid` in the outbox (once: the same type and call is one message)
   * and wakes the worker. Resolves to false when webhooks are off or the message was already there.
   */
  enqueue(
    type: WebhookEventType,
    callSid: string,
    data: Record<string, unknown>,
    at?: number,
  ): Promise<boolean>;
  /**
   * Enqueues `call.ended` for a call whose end no event announced: a record the startup clean-up
   * closed (`server_crashed`) after the previous run died mid-call. While the store cannot be written,
   * it waits in memory with the listener's events and is enqueued once the store takes writes again;
   * resolves once enqueued or kept for that retry.
   */
  announceEnded(callSid: string): Promise<void>;
  /** The delivery log, newest first. */
  list(options?: { callSid?: string; limit?: number }): Promise<WebhookDelivery[]>;
  /** Sends message `id` again (same id), now; undefined for an unknown id. */
  redeliver(id: string): Promise<WebhookDelivery | undefined>;
  /** Stops listening and sending. */
  close(): Promise<void>;
}

/**
 * Starts the webhooks (the worker runs only when `settings` is given).
 *
 * @example
 * ```ts
 * const webhooks = startWebhooks({ outbox: store.outbox, settings: config.webhook, calls, instance, log });
 * hub.subscribe(webhooks.listener);
 * await webhooks.enqueue("call.analyzed", callSid, { outcome });
 * ```
 */
export function startWebhooks(options: WebhooksOptions): Webhooks {
  return new OutboxWebhooks(options);
}

/** {@linkcode Webhooks} over the durable outbox, with its delivery worker (when `settings` is given). */
class OutboxWebhooks implements Webhooks {
  readonly #options: WebhooksOptions;
  readonly #now: () => number;
  readonly #worker: DeliveryWorker | undefined;
  /** Enqueues the listener started, awaited by close(). */
  readonly #pending = new Set<Promise<unknown>>();
  // An enqueue the store cannot take now (a locked or full disk, Postgres down) waits and is retried.
  readonly #retry: StoreRetry;

  constructor(options: WebhooksOptions) {
    this.#options = options;
    this.#now = options.timing?.now ?? Date.now;
    this.#worker = options.settings === undefined ? undefined : startWorker(options.settings, options);
    this.#retry = new StoreRetry({
      log: options.log,
      words: { subject: "Webhooks", verb: "enqueue", done: "enqueued" },
    });
  }

  get enabled(): boolean {
    return this.#worker !== undefined;
  }

  readonly listener: CallEventListener = (event) => {
    if (this.#worker === undefined) return;
    if (event.type === "call.analyzed") {
      this.#track(`call.analyzed of ${event.callSid}`, () => this.#fromAnalysis(event));
    } else if (
      this.#options.calls !== undefined && (event.type === "call.started" || event.type === "call.ended")
    ) {
      this.#track(`${event.type} of ${event.callSid}`, () => this.#fromRecord(event));
    }
  };

  async enqueue(
    type: WebhookEventType,
    callSid: string,
    data: Record<string, unknown>,
    at: number = this.#now(),
  ): Promise<boolean> {
    if (this.#worker === undefined) return false;
    const envelope: WebhookEnvelope = { type, timestamp: new Date(at).toISOString(), data };
    const added = await this.#options.outbox.enqueue({
      id: webhookMessageId(type, callSid),
      type,
      callSid,
      payload: JSON.stringify(envelope),
      at: this.#now(),
      expiresAt: this.#now() + (DELIVERY_DEFAULTS.retryForMs),
    });
    if (added) this.#worker.kick();
    return added;
  }

  async announceEnded(callSid: string): Promise<void> {
    if (this.#worker === undefined) return;
    // Through the store retry, as the listener's: a store that refuses now takes it once it writes again.
    await this.#track(`call.ended of ${callSid}`, () => this.#fromRecord({ type: "call.ended", callSid }));
  }

  list(filter?: { callSid?: string; limit?: number }): Promise<WebhookDelivery[]> {
    return this.#options.outbox.list(filter);
  }

  async redeliver(id: string): Promise<WebhookDelivery | undefined> {
    const { outbox } = this.#options;
    const delivery = await outbox.redeliver(id, this.#now(), this.#now() + DELIVERY_DEFAULTS.retryForMs);
    if (delivery !== undefined) this.#worker?.kick();
    return delivery;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
    await this.#retry.close();
    await this.#worker?.close();
  }

  /**
   * Runs `run` through the store retry, and keeps it for close() to await; resolves once it ran or was
   * kept for a retry (never rejects).
   */
  #track(what: string, run: () => Promise<void>): Promise<void> {
    const work = this.#retry.submit({ what, run });
    this.#pending.add(work);
    work.finally(() => this.#pending.delete(work));
    return work;
  }

  /** `call.started` or `call.ended`, built from the stored record. */
  async #fromRecord(
    event: { type: "call.started" | "call.ended"; callSid: string; at?: number },
  ): Promise<void> {
    const calls = this.#options.calls;
    const record = await calls?.getCall(event.callSid);
    assertStoreWriting(calls); // the read flushed the store's queue: failing, the record is behind
    if (record === undefined) return;
    const data = event.type === "call.started" ? callStartedData(record) : callEndedData(record);
    await this.enqueue(event.type, event.callSid, data, event.at ?? record.endedAt ?? this.#now());
  }

  /**
   * `call.analyzed`: the post-call analysis settled (src/analysis/worker.ts publishes it on the bus).
   * The record, read after the store's listener took this event, holds the call's cost with the analysis's.
   */
  async #fromAnalysis(event: Extract<CallEvent, { type: "call.analyzed" }>): Promise<void> {
    const record = await this.#options.calls?.getCall(event.callSid);
    await this.enqueue("call.analyzed", event.callSid, callAnalyzedData(event, record), event.at);
  }
}

/** The worker that delivers the outbox to `settings.url`, signed with its secret, started. */
function startWorker(settings: WebhookSettings, options: WebhooksOptions): DeliveryWorker {
  const worker = new DeliveryWorker({
    outbox: options.outbox,
    signer: createWebhookSigner(settings.secret),
    url: settings.url,
    instance: options.instance,
    log: options.log,
    ...options.timing,
  });
  worker.start();
  return worker;
}
