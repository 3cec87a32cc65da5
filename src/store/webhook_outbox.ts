/**
 * The webhook outbox, whichever adapter keeps it: one row per message (a stable id the receiver
 * de-duplicates on), its delivery state, and one row per attempt. Times are epoch milliseconds.
 *
 * A message is *due* when it is `pending`, its `nextTryAt` has come and no instance holds a lease on
 * it. {@linkcode WebhookOutbox.claimDue} takes due messages under a lease for one instance, atomically,
 * so that with several instances on one store each attempt is made by exactly one of them; an
 * instance that dies mid-attempt loses its lease when it expires and another instance retries
 * (at least once, same id).
 *
 * @module
 */

/** Where a message stands. */
export type WebhookState = "pending" | "delivered" | "failed";

/** A message to send, as enqueued. */
export interface WebhookMessageInput {
  /** Stable id (the `webhook-id` header): the same event always gets the same id. */
  id: string;
  /** Event type, e.g. `call.ended`. */
  type: string;
  /** The call it is about, if any (the call page lists a call's deliveries). */
  callSid: string | null;
  /** The JSON body, exactly as signed and sent. */
  payload: string;
  /** When it was enqueued (the first try is due then). */
  at: number;
  /** Give up (state `failed`) on a failed attempt after this time. */
  expiresAt: number;
}

/** A message claimed for sending. */
export interface ClaimedWebhook {
  id: string;
  type: string;
  callSid: string | null;
  payload: string;
  /** Attempts made before this one. */
  attempts: number;
  createdAt: number;
  expiresAt: number;
}

/** One attempt at delivering a message. */
export interface WebhookAttempt {
  at: number;
  /** The instance that made it. */
  instance: string;
  /** The receiver's HTTP status, or null when none came (refused, timeout). */
  status: number | null;
  /** Why it failed (`HTTP 500`, `connection refused`, `timeout after 10000 ms`), or null on success. */
  error: string | null;
  durationMs: number;
}

/** A message and how its delivery went: what `GET /api/webhooks/deliveries` lists. */
export interface WebhookDelivery {
  id: string;
  type: string;
  callSid: string | null;
  createdAt: number;
  state: WebhookState;
  attempts: number;
  /** When the next attempt is due (`pending` only), else null. */
  nextTryAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: number | null;
  expiresAt: number;
  /** Every attempt, oldest first. */
  attemptLog: WebhookAttempt[];
}

/** What an attempt leaves the message as. */
export type WebhookOutcome =
  | { state: "delivered" }
  | { state: "pending"; nextTryAt: number }
  | { state: "failed" };

/** Filters of {@linkcode WebhookOutbox.list}. */
export interface ListDeliveriesOptions {
  /** Only this call's messages. */
  callSid?: string;
  /** At most this many (newest first). @default 50, at most 500 */
  limit?: number;
}

/** The durable outbox (a port of `ports.ts`). */
export interface WebhookOutbox {
  /** Adds a message; resolves to false (and changes nothing) when its id is already there. */
  enqueue(message: WebhookMessageInput): Promise<boolean>;
  /**
   * Takes up to `limit` due messages (oldest `nextTryAt` first) under a lease for `instance` until
   * `now + leaseMs`, atomically: a message is claimed by one instance at a time.
   */
  claimDue(instance: string, now: number, limit: number, leaseMs: number): Promise<ClaimedWebhook[]>;
  /**
   * Records an attempt and the message's new state, and releases the lease; ignored (resolves false)
   * when `attempt.instance` no longer holds the lease (it expired and another instance took it).
   */
  finishAttempt(id: string, attempt: WebhookAttempt, outcome: WebhookOutcome): Promise<boolean>;
  /** The earliest `nextTryAt` of a pending message, or undefined when none is pending. */
  nextDueAt(): Promise<number | undefined>;
  /** Deliveries, newest first. */
  list(options?: ListDeliveriesOptions): Promise<WebhookDelivery[]>;
  /** One delivery, or undefined for an unknown id. */
  get(id: string): Promise<WebhookDelivery | undefined>;
  /**
   * Sends the message again, same id: `pending`, due at `now`, giving up after `expiresAt`.
   * Resolves to the delivery, or undefined for an unknown id. A message an instance is sending now
   * (its lease runs past `now`) is left as it is: rejects with {@linkcode WebhookBeingSentError}, so
   * one attempt at a time goes out and its result is recorded (redeliver it once that attempt ends).
   */
  redeliver(id: string, now: number, expiresAt: number): Promise<WebhookDelivery | undefined>;
  /** Closes the outbox. */
  close(): void;
}

/**
 * {@linkcode WebhookOutbox.redeliver} of a message an instance is sending now: it holds the lease
 * until `leaseUntil` (epoch ms), and the message is left as it is.
 */
export class WebhookBeingSentError extends Error {
  /** Builds the error for message `id`, leased until `leaseUntil`. */
  constructor(readonly id: string, readonly leaseUntil: number) {
    super(`Webhook "${id}" is being sent now: try again when its attempt ends`);
    this.name = "WebhookBeingSentError";
  }
}

/** Default page size of {@linkcode WebhookOutbox.list}. */
export const DEFAULT_DELIVERIES_LIMIT = 50;
/** Largest page of {@linkcode WebhookOutbox.list}. */
export const MAX_DELIVERIES_LIMIT = 500;
