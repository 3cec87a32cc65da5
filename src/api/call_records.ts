/**
 * The call records API, behind the route table's `bearerOrSession` guard:
 *
 * - `GET /api/calls?limit=&persona=&since=`: summaries, newest first.
 * - `GET /api/calls/:callSid`: the whole record.
 * - `GET /api/calls/:callSid/events`: server-sent events of a live call: a `snapshot` event (the
 *   record so far), then each {@linkcode CallEvent} as it happens (event name = its `type`, data =
 *   the event as JSON), a `: heartbeat` comment every 15 s; the stream ends after `call.ended`, when
 *   the client goes away, or on server shutdown. For a call that has already ended, only the snapshot,
 *   or, while its post-call analysis is pending or running, the snapshot and then `call.analyzed`.
 *
 * @module
 */

import { jsonError, jsonResponse } from "../http/responses.ts";
import type { CallEvent } from "../calls/call_events.ts";
import { type ListCallsOptions, MAX_LIST_LIMIT } from "../store/call_record.ts";
import type { CallRecords, EventBus } from "../store/ports.ts";
import type { CallFeedEvents, CallList, CallRecord, RecordingSummary } from "./types.ts";
import { analyzedEventOf, callsCsv, type OutcomeSource, withOutcome, withOutcomes } from "./call_outcomes.ts";

/** Options for {@linkcode createCallRecordsHandlers}. */
export interface CallRecordsOptions {
  /** Where records are read. */
  store: Pick<CallRecords, "listCalls" | "getCall">;
  /** Where live events come from. */
  hub: Pick<EventBus, "subscribe">;
  /** The post-call analyses, joined to the records as `outcome`. @default none (outcome null) */
  analyses?: OutcomeSource;
  /** Interval of SSE heartbeat comments, ms. @default 15000 */
  heartbeatMs?: number;
  /** Aborting ends every live stream (pass the server's shutdown signal so it can finish). */
  signal?: AbortSignal;
  /** The call's recording, for `GET /api/calls/:callSid` (none when omitted). */
  recordingOf?: (callSid: string) => Promise<RecordingSummary | undefined>;
}

/** Heartbeat interval of live event streams, ms. */
export const SSE_HEARTBEAT_MS = 15_000;

/** A live stream whose client has not read this many events is closed: it is not keeping up. */
const MAX_QUEUED_EVENTS = 1_000;

/** The three routes' handlers; `:callSid` comes from the route table's path. */
export interface CallRecordsHandlers {
  /** `GET /api/calls` */
  listCalls(req: Request): Promise<Response>;
  /** `GET /api/calls.csv` */
  exportCalls(req: Request): Promise<Response>;
  /** `GET /api/calls/:callSid` */
  getCall(req: Request, context: { params: Record<string, string> }): Promise<Response>;
  /** `GET /api/calls/:callSid/events` */
  callEvents(req: Request, context: { params: Record<string, string> }): Promise<Response>;
}

/**
 * Builds the handlers of `GET /api/calls`, `GET /api/calls/:callSid` and
 * `GET /api/calls/:callSid/events`.
 *
 * @example
 * ```ts
 * const records = createCallRecordsHandlers({ store, hub, signal });
 * // in the route table: { method: "GET", path: "/api/calls", guard: "bearerOrSession", handler: "listCalls" … }
 * ```
 */
export function createCallRecordsHandlers(options: CallRecordsOptions): CallRecordsHandlers {
  /** The decoded `:callSid`, or the 400 for a bad percent-encoding. */
  const callSidOf = (raw: string): string | Response => {
    try {
      return decodeURIComponent(raw);
    } catch (error) {
      if (!(error instanceof URIError)) throw error;
      return jsonError(400, `Invalid callSid "${raw}": bad percent-encoding`);
    }
  };
  return {
    listCalls: async (req) => {
      const calls = await readCalls(new URL(req.url), options);
      return calls instanceof Response ? calls : jsonResponse(200, { calls } satisfies CallList);
    },
    exportCalls: async (req) => {
      const calls = await readCalls(new URL(req.url), options);
      if (calls instanceof Response) return calls;
      return new Response(callsCsv(calls), {
        headers: {
          "content-type": "text/csv; charset=utf-8",
          "content-disposition": 'attachment; filename="calls.csv"',
        },
      });
    },
    async getCall(_req, { params }) {
      const callSid = callSidOf(params.callSid!);
      return callSid instanceof Response ? callSid : await getCall(callSid, options);
    },
    async callEvents(_req, { params }) {
      const callSid = callSidOf(params.callSid!);
      return callSid instanceof Response ? callSid : await liveEvents(callSid, options);
    },
  };
}

/** The calls the query asks for, with their outcomes, or the 400 for a bad filter. */
async function readCalls(url: URL, options: CallRecordsOptions) {
  const filters: ListCallsOptions = {};
  const limit = url.searchParams.get("limit");
  if (limit !== null) {
    const n = /^\d+$/.test(limit) ? Number(limit) : NaN;
    if (!(n >= 1 && n <= MAX_LIST_LIMIT)) {
      return jsonError(400, `Invalid limit "${limit}": use an integer from 1 to ${MAX_LIST_LIMIT}`);
    }
    filters.limit = n;
  }
  const since = url.searchParams.get("since");
  if (since !== null) {
    const at = parseSince(since);
    if (at === undefined) {
      return jsonError(
        400,
        `Invalid since "${since}": use an ISO date (2026-11-02 or 2026-11-02T09:30:00Z) or epoch milliseconds`,
      );
    }
    filters.since = at;
  }
  const persona = url.searchParams.get("persona");
  if (persona !== null && persona !== "") filters.persona = persona;
  return await withOutcomes(await options.store.listCalls(filters), options.analyses);
}

async function getCall(callSid: string, options: CallRecordsOptions): Promise<Response> {
  const record = await options.store.getCall(callSid);
  if (record === undefined) return jsonError(404, `Call "${callSid}" not found`);
  const analysis = await options.analyses?.get(callSid);
  const withAnalysis = withOutcome(record, analysis);
  if (options.recordingOf === undefined) return jsonResponse(200, withAnalysis satisfies CallRecord);
  const recording = (await options.recordingOf(callSid)) ?? null;
  return jsonResponse(200, { ...withAnalysis, recording } satisfies CallRecord);
}

async function liveEvents(callSid: string, options: CallRecordsOptions): Promise<Response> {
  // The snapshot holds the call's events up to `eventSeq`; the subscription resumes right after it
  // (the bus replays what came in between), so no event is missed or repeated.
  const stored = await options.store.getCall(callSid);
  if (stored === undefined) return jsonError(404, `Call "${callSid}" not found`);
  const snapshot = withOutcome(stored, await options.analyses?.get(callSid));
  // An ended call whose analysis is under way: the stream goes on until its `call.analyzed`.
  const awaitsAnalysis = snapshot.endedAt !== null &&
    (snapshot.outcome?.state === "pending" || snapshot.outcome?.state === "running");
  const lastEvent = awaitsAnalysis ? "call.analyzed" : "call.ended";

  const body = sseBody((sse) => {
    sse.send(sseFrame("snapshot", snapshot satisfies CallFeedEvents["snapshot"]));
    if ((snapshot.endedAt !== null && !awaitsAnalysis) || options.signal?.aborted === true) return sse.stop();
    const deliver = (event: CallEvent) => {
      sse.send(sseFrame(event.type, event));
      if (event.type === lastEvent || sse.backlog() > MAX_QUEUED_EVENTS) sse.stop();
    };
    const timer = setInterval(() => sse.send(": heartbeat\n\n"), options.heartbeatMs ?? SSE_HEARTBEAT_MS);
    const onAbort = () => sse.stop();
    options.signal?.addEventListener("abort", onAbort);
    sse.onStop(() => {
      clearInterval(timer);
      options.signal?.removeEventListener("abort", onAbort);
    });
    // The bus may replay the last event at once: the stream has stopped before `subscribe` returns.
    const off = options.hub.subscribe(deliver, { callSid, after: snapshot.eventSeq });
    if (sse.open) sse.onStop(off);
    else off();
    // Settled between the snapshot and the subscription, on a bus that numbers the call's events
    // afresh (after a restart) and so does not replay it: the stored analysis says it.
    if (sse.open && awaitsAnalysis) {
      options.analyses?.get(callSid).then((job) => {
        const analyzed = analyzedEventOf(job);
        if (analyzed !== undefined) deliver(analyzed);
      }, () => {}); // unread now, the bus still brings the event
    }
  });

  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-store",
      // Proxies such as nginx would otherwise hold events back.
      "x-accel-buffering": "no",
    },
  });
}

/** What {@linkcode sseBody}'s writer holds: one client's stream while it stays. */
interface SseSink {
  /** False once stopped (by the writer, or by the client leaving). */
  readonly open: boolean;
  /** Writes `text` while open; a stream that errored under it (connection reset) stops. */
  send(text: string): void;
  /** Frames queued beyond what the client has read. */
  backlog(): number;
  /** Runs `cleanup` when the stream stops. */
  onStop(cleanup: () => void): void;
  /** Ends the stream and runs the cleanups, once. */
  stop(): void;
}

/**
 * A response body that `start` writes to. It stops once, whichever comes first: the writer's
 * `stop()`, a failed write, or the client going away; each stop runs the writer's cleanups.
 */
function sseBody(start: (sse: SseSink) => void): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let open = true;
  const cleanups: (() => void)[] = [];
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const end = (closeStream: boolean) => {
    if (!open) return;
    open = false;
    for (const cleanup of cleanups) cleanup();
    if (closeStream) controller.close();
  };
  const sink: SseSink = {
    get open() {
      return open;
    },
    send(text) {
      if (!open) return;
      try {
        controller.enqueue(encoder.encode(text));
      } catch (error) {
        // The stream errored under us (connection reset): treat it as the client leaving.
        if (!(error instanceof TypeError)) throw error;
        end(false);
      }
    },
    backlog: () => -(controller.desiredSize ?? 0),
    onStop: (cleanup) => void cleanups.push(cleanup),
    stop: () => end(true),
  };
  return new ReadableStream<Uint8Array>({
    start(streamController) {
      controller = streamController;
      start(sink);
    },
    cancel() {
      // The client went away (Deno cancels the body when the connection closes). Not `req.signal`:
      // Deno 2.9 warns on it, and it also fires after a response completes (legacy behaviour).
      end(false);
    },
  });
}

function sseFrame(event: string, data: unknown): string {
  // JSON.stringify never emits a raw line break, so one `data:` line carries it all.
  return `event: ${event.replace(/[\r\n]/g, "")}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Epoch ms from all digits, or from an ISO date; undefined for anything else. */
function parseSince(value: string): number | undefined {
  if (/^\d{1,15}$/.test(value)) return Number(value);
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : at;
}
