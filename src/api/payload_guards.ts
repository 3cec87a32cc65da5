/**
 * The API's types (`src/api/payloads/`, which the pages import) are written on their own, importing
 * nothing of the server. What the server sends comes from its own types: each pair below compiles only
 * while the server's shape still carries what the pages expect, so a field added on one side and
 * forgotten on the other fails `deno task check` instead of reaching a page as `undefined`.
 *
 * @module
 */

import type * as Pages from "./types.ts";
import type { CallEvent } from "../calls/call_events.ts";
import type * as Calls from "../store/call_record.ts";
import type * as Leads from "../store/lead.ts";
import type * as Webhooks from "../store/webhook_outbox.ts";
import type * as Rehearsals from "../rehearsal/report.ts";
import type * as OutcomeReading from "../rehearsal/outcome_reading.ts";

/** Compiles only when `T` can stand where `U` is expected. */
type Assignable<T extends U, U> = T;

// The call handlers add the post-call outcome and the recording to what the store keeps.
type _CallSummary = Assignable<Calls.CallSummary, Omit<Pages.CallSummary, "outcome">>;
type _CallRecord = Assignable<Calls.CallRecord, Omit<Pages.CallRecord, "outcome" | "recording">>;

/** The live feed's events as `GET /api/calls/:callSid/events` sends them: the call events themselves. */
type SentFeed = { [K in Exclude<keyof Pages.CallFeedEvents, "snapshot">]: Extract<CallEvent, { type: K }> };
type _Feed = Assignable<SentFeed, Omit<Pages.CallFeedEvents, "snapshot">>;

type _Lead = Assignable<Leads.Lead, Pages.Lead>;
type _LeadCall = Assignable<Leads.LeadCall, Pages.LeadCall>;
type _WebhookDelivery = Assignable<Webhooks.WebhookDelivery, Pages.WebhookDelivery>;
type _RehearsalScenario = Assignable<Rehearsals.ScenarioSummary, Pages.RehearsalScenarioSummary>;
// The rehearsal's outcome checks read a call's outcome as the API sends it.
type _RehearsalOutcome = Assignable<Pages.CallOutcome, OutcomeReading.CallOutcome>;
