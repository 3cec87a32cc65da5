/**
 * The JSON the API answers with, as its readers rely on it: one module for the server handlers (their
 * bodies are checked against it with `satisfies`) and the pages in `src/web/` (JSDoc
 * `@typedef {import("../api/types.ts").CallRecord} CallRecord`, checked with the DOM library by
 * `deno task check`).
 *
 * The types live by area in `payloads/` (calls, leads, personas, webhooks, rehearsals, campaigns) and
 * are all re-exported here, so a page names one module. They import nothing else, so the browser check
 * does not pull in server modules. Enum-like fields (a
 * call's status, end reason, engine) are plain strings here: the pages show an unknown value as
 * words rather than fail on it. Times are epoch milliseconds.
 *
 * @module
 */

/** Any 4xx/5xx answer: what is wrong and, for a bad field of a body, which one. */
export interface ApiErrorBody {
  error: string;
  field?: string;
}

export type * from "./payloads/calls.ts";
export type * from "./payloads/leads.ts";
export type * from "./payloads/personas.ts";
export type * from "./payloads/webhooks.ts";
export type * from "./payloads/rehearsals.ts";
export type * from "./payloads/campaigns.ts";
