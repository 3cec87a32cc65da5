/**
 * Webhooks, wired: listens to the call events (`call.started`, `call.ended`), builds each payload
 * from the stored record, puts it in the durable outbox and wakes the delivery worker. Other
 * modules (post-call analysis, recordings) send their events with {@linkcode Webhooks.enqueue}.
 *
 * @module
 */

import type { CallEventListener } from "../../calls/call_events.ts";
import type { Logger } from "../../log.ts";
import type { CallRecords } from "../../store/ports.ts";
import type { WebhookDelivery, WebhookOutbox } from "../../store/webhook_outbox.ts";
import { DELIVERY_DEFAULTS, DeliveryWorker, type DeliveryWorkerOptions } from "./delivery_worker.ts";
import {
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
   * closed (`server_crashed`) after the previous run died mid-call.
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
  const { outbox, settings, log } = options;
  const timing = options.timing ?? {};
  const now = timing.now ?? Date.now;
  const worker = settings === undefined ? undefined : new DeliveryWorker({
    outbox,
    signer: createWebhookSigner(settings.secret),
    url: settings.url,
    instance: options.instance,
    log,
    ...timing,
  });
  worker?.start();
  const pending = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>) => {
    pending.add(work);
    work.finally(() => pending.delete(work));
  };

  const enqueue: Webhooks["enqueue"] = async (type, callSid, data, at = now()) => {
    if (worker === undefined) return false;
    const envelope: WebhookEnvelope = { type, timestamp: new Date(at).toISOString(), data };
    const added = await outbox.enqueue({
      id: webhookMessageId(type, callSid),
      type,
      callSid,
      payload: JSON.stringify(envelope),
      at: now(),
      expiresAt: now() + (DELIVERY_DEFAULTS.retryForMs),
    });
    if (added) worker.kick();
    return added;
  };

  // An enqueue the store cannot take now (a locked or full disk, Postgres down) waits and is retried.
  const retry = new StoreRetry({ log, words: { subject: "Webhooks", verb: "enqueue", done: "enqueued" } });

  const fromRecord = async (event: { type: "call.started" | "call.ended"; callSid: string; at?: number }) => {
    const record = await options.calls?.getCall(event.callSid);
    assertStoreWriting(options.calls); // the read flushed the store's queue: failing, the record is behind
    if (record === undefined) return;
    const data = event.type === "call.started" ? callStartedData(record) : callEndedData(record);
    await enqueue(event.type, event.callSid, data, event.at ?? record.endedAt ?? now());
  };

  const listener: CallEventListener = (event) => {
    if (worker === undefined) return;
    if (event.type === "call.analyzed") {
      // The post-call analysis settled (src/analysis/worker.ts publishes it on the bus). The record,
      // read after the store's listener took this event, holds the call's cost with the analysis's.
      const { callSid, state, outcome, error, costUsd } = event;
      const send = async () => {
        const record = await options.calls?.getCall(callSid);
        const callCostUsd = record === undefined ? null : record.costUsd;
        await enqueue(
          "call.analyzed",
          callSid,
          { callSid, state, outcome, error, costUsd, callCostUsd },
          event.at,
        );
      };
      track(retry.submit({ what: `call.analyzed of ${callSid}`, run: send }));
      return;
    }
    if (options.calls === undefined) return;
    if (event.type !== "call.started" && event.type !== "call.ended") return;
    track(retry.submit({ what: `${event.type} of ${event.callSid}`, run: () => fromRecord(event) }));
  };

  return {
    enabled: worker !== undefined,
    listener,
    enqueue,
    async announceEnded(callSid) {
      if (worker !== undefined) await fromRecord({ type: "call.ended", callSid });
    },
    list: (filter) => outbox.list(filter),
    async redeliver(id) {
      const delivery = await outbox.redeliver(id, now(), now() + DELIVERY_DEFAULTS.retryForMs);
      if (delivery !== undefined) worker?.kick();
      return delivery;
    },
    async close() {
      await Promise.allSettled([...pending]);
      await retry.close();
      await worker?.close();
    },
  };
}
