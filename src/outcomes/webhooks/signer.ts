/**
 * Signs a webhook per the Standard Webhooks spec with `npm:standardwebhooks`: the headers
 * `webhook-id`, `webhook-timestamp` (seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256>` of
 * `id.timestamp.body`), so a receiver verifies with the same library in any language.
 *
 * @module
 */

import { Webhook } from "standardwebhooks";

/** The three signature headers of one attempt. */
export interface SignedHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/** Signs bodies with one `whsec_…` secret. */
export interface WebhookSigner {
  /** The headers for sending `payload` as message `id` at `at` (each attempt is signed anew). */
  sign(id: string, payload: string, at: Date): SignedHeaders;
}

/**
 * Builds a signer for `secret` (`whsec_` + base64, as `WEBHOOK_SECRET` holds it).
 *
 * @example
 * ```ts
 * const headers = createWebhookSigner(config.webhook.secret).sign("msg_1", body, new Date());
 * ```
 */
export function createWebhookSigner(secret: string): WebhookSigner {
  const webhook = new Webhook(secret);
  return {
    sign(id, payload, at) {
      return {
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
        "webhook-signature": webhook.sign(id, at, payload),
      };
    },
  };
}
