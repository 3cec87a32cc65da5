/**
 * The handlers of what the store keeps: call records (list, one record, CSV export, live feed), a
 * call's recording, leads and webhook deliveries; each answers 503 (or 404) when this server keeps
 * none.
 *
 * @module
 */

import { jsonError } from "../http/responses.ts";
import { createCallRecordsHandlers } from "../api/call_records.ts";
import { createLeadsHandlers } from "../api/leads.ts";
import { createWebhookDeliveriesHandlers } from "../api/webhook_deliveries.ts";
import { createRecordingHandler, recordingSummaryOf } from "../api/recording_route.ts";
import type { HandlerName } from "./routes.ts";
import type { RouteHandler } from "./router.ts";
import type { HandlerParts } from "./handler_parts.ts";

type RecordHandlerName =
  | "listCalls"
  | "getCall"
  | "exportCalls"
  | "callEvents"
  | "callRecording"
  | "listLeads"
  | "createLead"
  | "importLeads"
  | "getLead"
  | "updateLead"
  | "deleteLead"
  | "listDeliveries"
  | "redeliver";

/**
 * A handler that answers 503 "`what` are not kept by this server". Every store keeps leads,
 * campaigns and the do-not-call list; only a server built without a store (a test harness) answers
 * their routes 503.
 */
export function notKept(what: string): RouteHandler {
  return async (request: Request) => {
    await request.body?.cancel();
    return jsonError(503, `${what} are not kept by this server`);
  };
}

/** The handlers of the call records, the recordings, the leads and the webhook deliveries. */
export function createRecordHandlers(
  parts: HandlerParts,
): Record<RecordHandlerName & HandlerName, RouteHandler> {
  const { hub } = parts;
  const records = parts.store === undefined ? undefined : createCallRecordsHandlers({
    store: parts.store,
    hub: parts.feeds ?? hub,
    signal: parts.shutdownSignal,
    ...(parts.analyses === undefined ? {} : { analyses: parts.analyses }),
    ...(parts.recordings === undefined ? {} : { recordingOf: recordingSummaryOf(parts.recordings) }),
  });
  const noRecords = () => jsonError(503, "Call records are not kept by this server");
  const leads = parts.leads === undefined ? undefined : createLeadsHandlers(parts.leads);
  const noLeads = notKept("Leads");
  const deliveries = parts.webhooks === undefined
    ? undefined
    : createWebhookDeliveriesHandlers(parts.webhooks);
  const noDeliveries = notKept("Webhook deliveries");
  return {
    listCalls: records?.listCalls ?? noRecords,
    getCall: records?.getCall ?? noRecords,
    exportCalls: records?.exportCalls ?? noRecords,
    callEvents: records?.callEvents ?? noRecords,
    callRecording: parts.recordings === undefined
      ? () => jsonError(404, "This server keeps no recordings")
      : createRecordingHandler(parts.recordings),
    listLeads: leads?.listLeads ?? noLeads,
    createLead: leads?.createLead ?? noLeads,
    importLeads: leads?.importLeads ?? noLeads,
    getLead: leads?.getLead ?? noLeads,
    updateLead: leads?.updateLead ?? noLeads,
    deleteLead: leads?.deleteLead ?? noLeads,
    listDeliveries: deliveries?.listDeliveries ?? noDeliveries,
    redeliver: deliveries?.redeliver ?? noDeliveries,
  };
}
