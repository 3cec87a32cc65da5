/**
 * The delivery worker: takes due messages from the outbox under a lease (one instance per message),
 * POSTs each, signed, with a timeout, and writes the attempt back: `delivered` on a 2xx; else
 * `pending` again after an exponential backoff with jitter (5 s, 10 s, 20 s… capped at an hour), and
 * `failed` once the next try would fall after the message's expiry (24 h after it was enqueued or
 * redelivered). Everything it needs to go on lives in the store: a restart, or another instance,
 * picks up where it stopped. It never throws into the event loop and no call waits on it.
 *
 * @module
 */

import type { Logger } from "../../log.ts";
import type { ClaimedWebhook, WebhookOutbox, WebhookOutcome } from "../../store/webhook_outbox.ts";
import type { WebhookSigner } from "./signer.ts";

/** Timing defaults of {@linkcode DeliveryWorker}. */
export const DELIVERY_DEFAULTS = {
  /** How often the outbox is asked for due messages (other instances' and retries), ms. */
  pollMs: 1_000,
  /** One attempt waits this long for the receiver's answer, ms. */
  timeoutMs: 10_000,
  /** A claim holds a message this long; past it another instance may retry it, ms. */
  leaseMs: 60_000,
  /** Messages in flight at once (a claim takes what room is left). */
  batch: 10,
  /** First retry delay, ms (doubles per attempt). */
  firstRetryMs: 5_000,
  /** Longest retry delay, ms. */
  maxRetryMs: 3_600_000,
  /** A message is given up (`failed`) this long after it was enqueued, ms. */
  retryForMs: 24 * 3_600_000,
} as const;

/** Options of {@linkcode DeliveryWorker}. */
export interface DeliveryWorkerOptions {
  outbox: WebhookOutbox;
  signer: WebhookSigner;
  /** The receiver (`WEBHOOK_URL`). */
  url: string;
  /** This instance (`INSTANCE_ID`): it holds the leases. */
  instance: string;
  log: Logger;
  /** Clock for scheduling, epoch ms (signatures always use the real time). @default Date.now */
  now?: () => number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Random in [0, 1) for the jitter. @default Math.random */
  random?: () => number;
  pollMs?: number;
  timeoutMs?: number;
  leaseMs?: number;
  firstRetryMs?: number;
  maxRetryMs?: number;
}

/**
 * The delay before retry number `attempts` (1 after the first failure): doubling from `firstMs`,
 * capped at `maxMs`, times a jitter in [0.8, 1.2).
 */
export function retryDelayMs(attempts: number, random: number, firstMs: number, maxMs: number): number {
  const base = Math.min(maxMs, firstMs * 2 ** Math.min(attempts - 1, 30));
  return Math.round(base * (0.8 + 0.4 * random));
}

/**
 * Sends the outbox's messages.
 *
 * @example
 * ```ts
 * const worker = new DeliveryWorker({ outbox, signer, url, instance, log });
 * worker.start();
 * worker.kick(); // a message was just enqueued
 * await worker.close();
 * ```
 */
export class DeliveryWorker {
  #o: DeliveryWorkerOptions;
  #now: () => number;
  #fetch: typeof fetch;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  /** Deliveries under way: each frees its room when it settles, so a hung one holds up only itself. */
  #inFlight = new Set<Promise<void>>();
  #again = false;
  #closed = false;
  #stop = new AbortController();

  constructor(options: DeliveryWorkerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /** Starts polling (a first pass runs at once: messages left by a previous run go out). */
  start(): void {
    this.kick();
  }

  /** Runs a pass now (or right after the one running). */
  kick(): void {
    if (this.#closed) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#running = this.#pass().finally(() => {
      this.#running = undefined;
      if (this.#closed) return;
      if (this.#again) {
        this.#again = false;
        this.kick();
      } else {
        this.#timer = setTimeout(() => this.kick(), this.#o.pollMs ?? DELIVERY_DEFAULTS.pollMs);
      }
    });
  }

  /** Stops: aborts attempts in flight (they are retried later) and waits for them to be written. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#stop.abort();
    await this.#running;
    await Promise.allSettled([...this.#inFlight]);
  }

  /**
   * Claims due messages for the room left and starts their deliveries without waiting for them: a
   * receiver that is slow to answer one message (up to the timeout) never holds up the next.
   */
  async #pass(): Promise<void> {
    const room = DELIVERY_DEFAULTS.batch - this.#inFlight.size;
    if (room <= 0) return; // the next delivery to settle runs a pass
    let claimed: ClaimedWebhook[];
    try {
      claimed = await this.#o.outbox.claimDue(
        this.#o.instance,
        this.#now(),
        room,
        this.#o.leaseMs ?? DELIVERY_DEFAULTS.leaseMs,
      );
    } catch (error) {
      // A busy or failing store: the next poll tries again, and a long outage is one line now and then.
      this.#o.log.warnRateLimited(
        "webhooks-outbox-read",
        `Webhooks: could not read the outbox: ${describe(error)}`,
      );
      return;
    }
    for (const message of claimed) {
      const delivery: Promise<void> = this.#deliver(message).finally(() => {
        this.#inFlight.delete(delivery);
        this.kick(); // room again: what is due goes out now
      });
      this.#inFlight.add(delivery);
    }
  }

  async #deliver(message: ClaimedWebhook): Promise<void> {
    const started = performance.now();
    const sentAt = this.#now();
    const { status, error } = await this.#post(message);
    const attempts = message.attempts + 1;
    const outcome = this.#outcomeOf(message, attempts, error);
    try {
      const kept = await this.#o.outbox.finishAttempt(message.id, {
        at: sentAt,
        instance: this.#o.instance,
        status,
        error,
        durationMs: Math.round(performance.now() - started),
      }, outcome);
      if (!kept) return; // the lease had passed to another instance: its attempt is the one recorded
    } catch (caught) {
      // The lease runs out and the message is tried again: at least once.
      this.#o.log.warn(`Webhooks: could not record an attempt of ${message.id}: ${describe(caught)}`);
      return;
    }
    this.#logAttempt(message, attempts, status, error, outcome);
  }

  /** One POST of `message`: the receiver's status, and what went wrong (null when it took it). */
  async #post(message: ClaimedWebhook): Promise<{ status: number | null; error: string | null }> {
    const timeoutMs = this.#o.timeoutMs ?? DELIVERY_DEFAULTS.timeoutMs;
    try {
      const response = await this.#fetch(this.#o.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "Parley-Webhooks/1",
          ...this.#o.signer.sign(message.id, message.payload, new Date()),
        },
        body: message.payload,
        redirect: "manual",
        signal: AbortSignal.any([this.#stop.signal, AbortSignal.timeout(timeoutMs)]),
      });
      const status = response.status;
      await response.body?.cancel();
      return { status, error: status < 200 || status > 299 ? `HTTP ${status}` : null };
    } catch (caught) {
      const error = this.#stop.signal.aborted
        ? "aborted: Parley was shutting down"
        : caught instanceof DOMException && caught.name === "TimeoutError"
        ? `timeout after ${timeoutMs} ms`
        : describe(caught).replaceAll(new URL(this.#o.url).href, "WEBHOOK_URL").replaceAll(
          this.#o.url,
          "WEBHOOK_URL",
        );
      return { status: null, error };
    }
  }

  /** Delivered; or due again after a backoff; or failed once the next try would pass its expiry. */
  #outcomeOf(message: ClaimedWebhook, attempts: number, error: string | null): WebhookOutcome {
    const now = this.#now();
    if (error === null) return { state: "delivered" };
    if (this.#stop.signal.aborted) return { state: "pending", nextTryAt: now };
    const delay = retryDelayMs(
      attempts,
      (this.#o.random ?? Math.random)(),
      this.#o.firstRetryMs ?? DELIVERY_DEFAULTS.firstRetryMs,
      this.#o.maxRetryMs ?? DELIVERY_DEFAULTS.maxRetryMs,
    );
    return now + delay > message.expiresAt
      ? { state: "failed" }
      : { state: "pending", nextTryAt: now + delay };
  }

  #logAttempt(
    message: ClaimedWebhook,
    attempts: number,
    status: number | null,
    error: string | null,
    outcome: WebhookOutcome,
  ): void {
    if (outcome.state === "delivered") {
      this.#o.log.debug(
        `Webhook ${message.type} ${message.id} delivered (HTTP ${status}, attempt ${attempts})`,
      );
    } else if (outcome.state === "pending" && error !== null && !this.#stop.signal.aborted) {
      this.#o.log.warn(
        `Webhook ${message.type} ${message.id} attempt ${attempts} failed (${error}); ` +
          `next try at ${new Date(outcome.nextTryAt).toISOString()}`,
      );
    } else if (outcome.state === "failed") {
      this.#o.log.error(
        `Webhook ${message.type} ${message.id} failed after ${attempts} attempts (${error}); ` +
          `giving up (POST /api/webhooks/deliveries/${message.id}/redeliver sends it again)`,
      );
    }
  }
}

function describe(error: unknown): string {
  let text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  // fetch says "fetch failed"; why (refused, reset, DNS) is in its cause.
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error) text += ` (${cause.message})`;
  // The logger escapes too; the store keeps this text for the delivery log.
  return text.replace(/[^\x20-\x7e]/g, " ").slice(0, 300);
}
