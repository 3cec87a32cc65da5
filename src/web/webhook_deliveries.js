/**
 * The call page's "Webhooks" section: each message about the call (`call.started`, `call.ended`…),
 * its state, attempts (time, instance, HTTP status or error) and next try, with a button that sends
 * it again (same `webhook-id`).
 */
import { $, api, ApiError, fieldError, h, time } from "./app.js";

/** @typedef {import("../api/types.ts").WebhookDelivery} WebhookDelivery */
/** @typedef {import("../api/types.ts").WebhookDeliveryList} WebhookDeliveryList */

/** @param {import("../api/types.ts").WebhookAttempt} attempt */
function attemptItem(attempt) {
  const result = attempt.status === null ? (attempt.error ?? "no answer") : `HTTP ${attempt.status}`;
  return h(
    "li",
    {},
    `${time(attempt.at)}: ${result} (${attempt.instance}, ${Math.round(attempt.durationMs)} ms)`,
  );
}

/** @param {WebhookDelivery} d @param {string} callSid */
function deliveryItem(d, callSid) {
  const state = d.state === "pending"
    ? (d.attempts === 0 ? "waiting" : `retrying: next try ${time(d.nextTryAt)}`)
    : d.state === "delivered"
    ? `delivered ${time(d.deliveredAt)}`
    : "failed: gave up";
  const button = h("button", { type: "button", "data-id": d.id }, "Redeliver");
  button.addEventListener("click", async () => {
    fieldError("webhooks", "");
    try {
      await api(`/api/webhooks/deliveries/${encodeURIComponent(d.id)}/redeliver`, { method: "POST" });
      await showWebhookDeliveries(callSid);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      fieldError("webhooks", error.message);
    }
  });
  return h(
    "li",
    { "data-webhook": d.type, "data-state": d.state },
    h("strong", {}, d.type),
    ` · ${state} · ${d.attempts} attempt${d.attempts === 1 ? "" : "s"}`,
    d.lastStatus === null ? "" : ` · last HTTP ${d.lastStatus}`,
    " ",
    button,
    h("ol", {}, ...d.attemptLog.map(attemptItem)),
  );
}

/**
 * Loads and shows the call's webhook deliveries.
 * @param {string} callSid
 */
export async function showWebhookDeliveries(callSid) {
  /** @type {WebhookDeliveryList} */
  let list;
  try {
    list = /** @type {WebhookDeliveryList} */ (
      await api(`/api/webhooks/deliveries?callSid=${encodeURIComponent(callSid)}`)
    );
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    $("webhooks-empty").textContent = error.status === 503
      ? "This server keeps no webhook log."
      : `Could not load the webhook log: ${error.message}`;
    return;
  }
  $("webhooks-empty").hidden = list.deliveries.length > 0;
  $("webhooks-empty").textContent = list.enabled
    ? "No webhooks for this call yet."
    : "Webhooks are off (set WEBHOOK_URL and WEBHOOK_SECRET).";
  $("webhooks").replaceChildren(...list.deliveries.map((d) => deliveryItem(d, callSid)));
}
