/**
 * The webhook delivery log, behind the route table's `bearerOrSession` guard:
 *
 * - `GET /api/webhooks/deliveries?callSid=&limit=`: messages newest first, each with its attempts
 *   (time, instance, status code, error), state and next try.
 * - `POST /api/webhooks/deliveries/:id/redeliver`: sends the message again, same `webhook-id`, now
 *   (202 with the delivery; 404 for an unknown id; 409 while `WEBHOOK_URL` is unset, and while an
 *   attempt at it is in flight: it is not queued a second time, so one POST of an id goes out at once).
 *
 * @module
 */

import { jsonError, jsonResponse } from "../http/responses.ts";
import { MAX_DELIVERIES_LIMIT, WebhookBeingSentError } from "../store/webhook_outbox.ts";
import type { Webhooks } from "../outcomes/webhooks/webhooks.ts";
import type { WebhookDeliveryList, WebhookRedelivery } from "./types.ts";

/** A route's handler (the router's shape, declared here so api/ needs nothing from app/). */
type RouteHandler = (request: Request, context: { params: Record<string, string> }) => Promise<Response>;

/** The two routes' handlers. */
export interface WebhookDeliveriesHandlers {
  listDeliveries: RouteHandler;
  redeliver: RouteHandler;
}

/**
 * Builds the handlers of the delivery log.
 *
 * @example
 * ```ts
 * const { listDeliveries, redeliver } = createWebhookDeliveriesHandlers(webhooks);
 * ```
 */
export function createWebhookDeliveriesHandlers(
  webhooks: Pick<Webhooks, "enabled" | "list" | "redeliver">,
): WebhookDeliveriesHandlers {
  return {
    async listDeliveries(request) {
      const url = new URL(request.url);
      const filter: { callSid?: string; limit?: number } = {};
      const limit = url.searchParams.get("limit");
      if (limit !== null) {
        const n = /^\d+$/.test(limit) ? Number(limit) : NaN;
        if (!(n >= 1 && n <= MAX_DELIVERIES_LIMIT)) {
          return jsonError(
            400,
            `Invalid limit "${limit.slice(0, 40)}": use an integer from 1 to ${MAX_DELIVERIES_LIMIT}`,
          );
        }
        filter.limit = n;
      }
      const callSid = url.searchParams.get("callSid");
      if (callSid !== null) {
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(callSid)) {
          return jsonError(400, `Invalid callSid "${callSid.replace(/[^\x20-\x7e]/g, "?").slice(0, 64)}"`);
        }
        filter.callSid = callSid;
      }
      const body = {
        enabled: webhooks.enabled,
        deliveries: await webhooks.list(filter),
      } satisfies WebhookDeliveryList;
      return jsonResponse(200, body);
    },
    async redeliver(request, { params }) {
      await request.body?.cancel();
      if (!webhooks.enabled) {
        return jsonError(409, "Webhooks are off: set WEBHOOK_URL and WEBHOOK_SECRET to send them");
      }
      let id: string;
      try {
        id = decodeURIComponent(params.id!);
      } catch {
        return jsonError(400, `Invalid delivery id "${params.id}": bad percent-encoding`);
      }
      const delivery = await webhooks.redeliver(id).catch((error: unknown) => {
        if (error instanceof WebhookBeingSentError) return error;
        throw error;
      });
      // An attempt is in flight: queued again now, the same webhook-id would be POSTed twice at once.
      if (delivery instanceof WebhookBeingSentError) return jsonError(409, delivery.message);
      if (delivery === undefined) {
        return jsonError(404, `No webhook message "${id.replace(/[^\x20-\x7e]/g, "?").slice(0, 100)}"`);
      }
      return jsonResponse(202, { delivery } satisfies WebhookRedelivery);
    },
  };
}
