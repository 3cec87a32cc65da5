/**
 * Parley's route table: every route on one line, with who may call it (its guard) and how large a
 * body it may send (its body limit). `router.ts` applies both as middleware before the handler runs;
 * no handler checks its method, its caller or its body size itself.
 *
 * Guards (`middleware/guards.ts`):
 *
 * | guard | who passes |
 * | --- | --- |
 * | `none` | anyone (health, the sign-in page, static files); no route that changes state |
 * | `twilio` | a request signed by Twilio (`X-Twilio-Signature`, over the form read within the limit) |
 * | `bearerOrSession` | `Authorization: Bearer $API_TOKEN`, or a session cookie (a state change: from this origin) |
 * | `signedLinkOrBearer` | a signed, unexpired link (`?expires=…&signature=…`, from `recording.ready`); without one, as `bearerOrSession` |
 * | `sessionSameOrigin` | a session cookie on a request whose `Origin` is this server's |
 * | `sameOrigin` | a form whose `Origin` (or `Referer`) is this server's (sign-in, sign-out); else the sign-in page, 403 |
 * | `signedInPage` | a session cookie; else a redirect to `/login?next=…` |
 * | `bearerUnlessPublic` | the bearer token, unless METRICS_PUBLIC=on |
 *
 * Body limits (`middleware/body_limit.ts`): bytes (a larger declared `Content-Length` is 413 before
 * anything runs; a chunked body is cut off at the limit), `"none"` for a GET, `"websocket"` for a
 * WebSocket handshake (no body; anything else than `Upgrade: websocket` is 426).
 *
 * Paths: exact, or with `:name` segments (one segment each, passed to the handler), or ending in
 * `/*` (the path itself and everything under it). The first row whose path and method match handles
 * the request; a path that matches with another method is 405 with `Allow`; nothing matching is 404.
 *
 * @module
 */

import { MAX_CAMPAIGN_BODY_BYTES, MAX_DNC_BODY_BYTES, MAX_DNC_IMPORT_BYTES } from "../api/campaigns.ts";
import { MAX_LEAD_BODY_BYTES } from "../api/leads.ts";
import { MAX_LEAD_IMPORT_BYTES } from "../api/lead_import.ts";
import { MAX_PLACE_CALL_BODY_BYTES } from "../api/place_call.ts";
import { MAX_REHEARSE_BODY_BYTES } from "../api/rehearse_route.ts";
import { MAX_SIGN_IN_BODY_BYTES } from "../api/sign_in.ts";
import {
  AFTER_STREAM_PATH,
  DIAL_ACTION_PATH,
  MEDIA_STREAM_PATH,
  STATUS_CALLBACK_PATH,
  VOICE_WEBHOOK_PATH,
} from "../paths.ts";
import { MAX_TWILIO_FORM_BYTES } from "../twilio/signature.ts";

/** Who may call a route. */
export type Guard =
  | "none"
  | "twilio"
  | "bearerOrSession"
  | "signedLinkOrBearer"
  | "sessionSameOrigin"
  | "sameOrigin"
  | "signedInPage"
  | "bearerUnlessPublic";

/** Largest body a route reads, bytes; `"none"` for a GET; `"websocket"` for a socket handshake. */
export type BodyLimit = number | "none" | "websocket";

/** A method a route answers. */
export type Method = "GET" | "POST" | "PATCH" | "DELETE";

/** A body that carries nothing worth reading (the route ignores it): a few form fields at most. */
export const EMPTY_BODY_BYTES = 1024;

/** One row of {@linkcode ROUTES}. */
export interface RouteRow<Name extends string = string> {
  method: Method;
  path: string;
  guard: Guard;
  bodyLimit: BodyLimit;
  /** The name of the handler `handlers.ts` builds for this row. */
  handler: Name;
}

/** Bytes of the body limits below (each is its route's own constant, named where the body is read). */
const TWILIO_FORM = MAX_TWILIO_FORM_BYTES; // 64 KiB: Twilio's callbacks are a few KiB
const SIGN_IN_FORM = MAX_SIGN_IN_BODY_BYTES; // 8 KiB: a token and a `next` path
const PLACE_CALL = MAX_PLACE_CALL_BODY_BYTES; // 16 KiB of JSON
const LEAD_JSON = MAX_LEAD_BODY_BYTES; // 16 KiB of JSON
const LEAD_CSV = MAX_LEAD_IMPORT_BYTES; // 1 MiB of CSV
const EMPTY_BODY = EMPTY_BODY_BYTES; // 1 KiB: the route reads no body
const REHEARSAL = MAX_REHEARSE_BODY_BYTES; // 1 KiB of JSON: `{"runs": N}`
const CAMPAIGN_JSON = MAX_CAMPAIGN_BODY_BYTES; // 1 MiB of JSON: a CSV of leads fits
const DNC_JSON = MAX_DNC_BODY_BYTES; // 4 KiB: one number
const DNC_CSV = MAX_DNC_IMPORT_BYTES; // 1 MiB of CSV

/** The route table, in match order. */
// deno-fmt-ignore
export const ROUTES = [
  { method: "GET",    path: `${MEDIA_STREAM_PATH}/*`,     guard: "twilio",             bodyLimit: "websocket",  handler: "mediaStream" },
  { method: "POST",   path: VOICE_WEBHOOK_PATH,           guard: "twilio",             bodyLimit: TWILIO_FORM,  handler: "voiceWebhook" },
  { method: "GET",    path: VOICE_WEBHOOK_PATH,           guard: "twilio",             bodyLimit: "none",       handler: "voiceWebhook" },
  { method: "POST",   path: STATUS_CALLBACK_PATH,         guard: "twilio",             bodyLimit: TWILIO_FORM,  handler: "twilioStatus" },
  { method: "POST",   path: AFTER_STREAM_PATH,            guard: "twilio",             bodyLimit: TWILIO_FORM,  handler: "afterStream" },
  { method: "POST",   path: DIAL_ACTION_PATH,             guard: "twilio",             bodyLimit: TWILIO_FORM,  handler: "dialAction" },
  { method: "GET",    path: "/healthz",                   guard: "none",               bodyLimit: "none",       handler: "health" },
  { method: "GET",    path: "/metrics",                   guard: "bearerUnlessPublic", bodyLimit: "none",       handler: "metrics" },
  { method: "GET",    path: "/login",                     guard: "none",               bodyLimit: "none",       handler: "signInPage" },
  { method: "POST",   path: "/login",                     guard: "sameOrigin",         bodyLimit: SIGN_IN_FORM, handler: "signIn" },
  { method: "POST",   path: "/logout",                    guard: "sameOrigin",         bodyLimit: EMPTY_BODY,   handler: "signOut" },
  { method: "POST",   path: "/api/calls",                 guard: "bearerOrSession",    bodyLimit: PLACE_CALL,   handler: "placeCall" },
  { method: "GET",    path: "/api/calls",                 guard: "bearerOrSession",    bodyLimit: "none",       handler: "listCalls" },
  { method: "GET",    path: "/api/calls.csv",             guard: "bearerOrSession",    bodyLimit: "none",       handler: "exportCalls" },
  { method: "GET",    path: "/api/calls/:callSid",        guard: "bearerOrSession",    bodyLimit: "none",       handler: "getCall" },
  { method: "GET",    path: "/api/calls/:callSid/events", guard: "bearerOrSession",    bodyLimit: "none",       handler: "callEvents" },
  { method: "GET",    path: "/api/calls/:callSid/recording", guard: "signedLinkOrBearer", bodyLimit: "none", handler: "callRecording" },
  { method: "POST",   path: "/api/calls/:callSid/hangup", guard: "bearerOrSession",    bodyLimit: EMPTY_BODY,   handler: "hangUp" },
  { method: "GET",    path: "/api/leads",                 guard: "bearerOrSession",    bodyLimit: "none",       handler: "listLeads" },
  { method: "POST",   path: "/api/leads",                 guard: "bearerOrSession",    bodyLimit: LEAD_JSON,    handler: "createLead" },
  { method: "POST",   path: "/api/leads/import",          guard: "bearerOrSession",    bodyLimit: LEAD_CSV,     handler: "importLeads" },
  { method: "GET",    path: "/api/leads/:id",             guard: "bearerOrSession",    bodyLimit: "none",       handler: "getLead" },
  { method: "PATCH",  path: "/api/leads/:id",             guard: "bearerOrSession",    bodyLimit: LEAD_JSON,    handler: "updateLead" },
  { method: "DELETE", path: "/api/leads/:id",             guard: "bearerOrSession",    bodyLimit: EMPTY_BODY,   handler: "deleteLead" },
  { method: "POST",   path: "/api/campaigns",             guard: "bearerOrSession",    bodyLimit: CAMPAIGN_JSON, handler: "createCampaign" },
  { method: "GET",    path: "/api/campaigns",             guard: "bearerOrSession",    bodyLimit: "none",       handler: "listCampaigns" },
  { method: "GET",    path: "/api/campaigns/:id",         guard: "bearerOrSession",    bodyLimit: "none",       handler: "getCampaign" },
  { method: "GET",    path: "/api/campaigns/:id/calls",   guard: "bearerOrSession",    bodyLimit: "none",       handler: "campaignCalls" },
  { method: "GET",    path: "/api/campaigns/:id/results.csv", guard: "bearerOrSession", bodyLimit: "none",     handler: "campaignResults" },
  { method: "POST",   path: "/api/campaigns/:id/:action", guard: "bearerOrSession",    bodyLimit: EMPTY_BODY,   handler: "campaignAction" },
  { method: "GET",    path: "/api/dnc",                   guard: "bearerOrSession",    bodyLimit: "none",       handler: "listDnc" },
  { method: "POST",   path: "/api/dnc",                   guard: "bearerOrSession",    bodyLimit: DNC_JSON,     handler: "addDnc" },
  { method: "POST",   path: "/api/dnc/import",            guard: "bearerOrSession",    bodyLimit: DNC_CSV,      handler: "importDnc" },
  { method: "DELETE", path: "/api/dnc/:phone",            guard: "bearerOrSession",    bodyLimit: EMPTY_BODY,   handler: "removeDnc" },
  { method: "GET",    path: "/api/personas",              guard: "bearerOrSession",    bodyLimit: "none",       handler: "listPersonas" },
  { method: "GET",    path: "/api/personas/:id",          guard: "bearerOrSession",    bodyLimit: "none",       handler: "getPersona" },
  { method: "GET",    path: "/api/personas/:id/preview",  guard: "bearerOrSession",    bodyLimit: "none",       handler: "previewPersona" },
  { method: "POST",   path: "/api/personas/:id/rehearse", guard: "bearerOrSession",    bodyLimit: REHEARSAL,    handler: "rehearse" },
  { method: "GET",    path: "/api/voices",                guard: "bearerOrSession",    bodyLimit: "none",       handler: "listVoices" },
  { method: "GET",    path: "/api/webhooks/deliveries",   guard: "bearerOrSession",    bodyLimit: "none",       handler: "listDeliveries" },
  { method: "POST",   path: "/api/webhooks/deliveries/:id/redeliver", guard: "bearerOrSession", bodyLimit: EMPTY_BODY, handler: "redeliver" },
  { method: "GET",    path: "/api/softphone",             guard: "sessionSameOrigin",  bodyLimit: "websocket",  handler: "softphone" },
  { method: "GET",    path: "/",                          guard: "none",               bodyLimit: "none",       handler: "home" },
  { method: "GET",    path: "/favicon.ico",               guard: "none",               bodyLimit: "none",       handler: "webFile" },
  { method: "GET",    path: "/web/*",                     guard: "none",               bodyLimit: "none",       handler: "webFile" },
  { method: "GET",    path: "/calling",                   guard: "signedInPage",       bodyLimit: "none",       handler: "page" },
  { method: "GET",    path: "/leads",                     guard: "signedInPage",       bodyLimit: "none",       handler: "page" },
  { method: "GET",    path: "/campaigns",                 guard: "signedInPage",       bodyLimit: "none",       handler: "page" },
  { method: "GET",    path: "/calls",                     guard: "signedInPage",       bodyLimit: "none",       handler: "page" },
  { method: "GET",    path: "/calls/:callSid",            guard: "signedInPage",       bodyLimit: "none",       handler: "page" },
  { method: "GET",    path: "/personas",                  guard: "signedInPage",       bodyLimit: "none",       handler: "page" },
  { method: "GET",    path: "/personas/:id",              guard: "signedInPage",       bodyLimit: "none",       handler: "page" },
] as const satisfies readonly RouteRow[];

/** The name of every handler the table routes to: `handlers.ts` must build each. */
export type HandlerName = (typeof ROUTES)[number]["handler"];
