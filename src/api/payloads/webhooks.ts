/**
 * The JSON of webhook deliveries: each message, its attempts, a redelivery. Part of the API's types (`../types.ts`, which the pages import); imports
 * nothing outside them.
 *
 * @module
 */

/** One attempt at delivering a webhook. */
export interface WebhookAttempt {
  at: number;
  /** The instance (`INSTANCE_ID`) that made it. */
  instance: string;
  /** The receiver's HTTP status, or null when none came (refused, timeout). */
  status: number | null;
  /** Why it failed, or null. */
  error: string | null;
  durationMs: number;
}

/** One webhook message and its delivery. */
export interface WebhookDelivery {
  /** The `webhook-id` (stable: retries and redeliveries carry the same). */
  id: string;
  /** `call.started`, `call.ended`, `call.analyzed`, `recording.ready`. */
  type: string;
  callSid: string | null;
  createdAt: number;
  /** `pending`, `delivered` or `failed`. */
  state: string;
  attempts: number;
  /** When the next attempt is due (pending only). */
  nextTryAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: number | null;
  /** A failing message is given up (`failed`) after this time. */
  expiresAt: number;
  attemptLog: WebhookAttempt[];
}

/** `GET /api/webhooks/deliveries?callSid=&limit=`: newest first. */
export interface WebhookDeliveryList {
  /** True when `WEBHOOK_URL` is set (else the log shows what earlier runs sent). */
  enabled: boolean;
  deliveries: WebhookDelivery[];
}

/** `POST /api/webhooks/deliveries/:id/redeliver`: the message, due now. */
export interface WebhookRedelivery {
  delivery: WebhookDelivery;
}
