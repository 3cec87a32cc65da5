/**
 * `POST /api/twilio/status`: Twilio's call progress callbacks (initiated, ringing, answered,
 * completed, busy, no-answer, failed, canceled) and asynchronous answering-machine results.
 *
 * Each signed callback becomes a `call.status` event on the hub and a log line
 * (`[Realtime] Call status: CallSid=CA… ringing`); the latest status per call is also kept in a
 * bounded map. Callbacks may arrive out of order, so `SequenceNumber` decides which is latest.
 *
 * A final callback (completed, busy, no-answer, failed, canceled) is always recorded as its final
 * status. If it also carries a machine answer (`AnsweredBy`) this process has not recorded for the
 * call yet, a `machine-detected` event comes just before it. Either way no voicemail is asked for:
 * the call is over.
 *
 * @module
 */

import { type CallStatus, FINAL_CALL_STATUSES } from "../calls/call_events.ts";
import { campaignAttemptOf } from "../calls/campaign_attempt.ts";
import { type CallHub } from "../calls/call_hub.ts";
import type { ParleyConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import { excerpt } from "../log.ts";
import { RecentMap, RecentSet } from "../recent.ts";
import { isCallSid } from "../twilio/stream_token.ts";

/** Calls whose latest status is kept by default. */
export const DEFAULT_MAX_TRACKED_CALLS = 1_000;

const TWILIO_STATUSES: ReadonlySet<string> = new Set([
  "queued",
  "initiated",
  "ringing",
  "in-progress",
  "completed",
  "busy",
  "no-answer",
  "failed",
  "canceled",
]);

/** The settings the status route's `twilio` guard checks the callback against. */
export type TwilioStatusConfig = Pick<
  ParleyConfig,
  "twilioAuthToken" | "publicBaseUrl" | "twilioSignatureCheck"
>;

/** Options for {@linkcode createTwilioStatusHandler}. */
export interface TwilioStatusOptions {
  /** Receives a `call.status` event per callback. */
  hub: CallHub;
  /** Logs each status and each refused callback. */
  log: Logger;
  /** Calls whose latest status is kept; the oldest is forgotten first. @default DEFAULT_MAX_TRACKED_CALLS */
  maxTrackedCalls?: number;
  /** Clock for event timestamps. @default Date.now */
  now?: () => number;
  /**
   * Gets each signed answering-machine result (`AnsweredBy`) of a call not over yet, e.g. to leave a
   * voicemail (not one a final callback carries).
   */
  onAnsweredBy?: (callSid: string, answeredBy: string) => void;
}

/** The latest known progress of one call. */
export interface CallProgress {
  /** The status, with `in-progress` reported as `answered` and machine answers as `machine-detected`. */
  status: CallStatus;
  /** Twilio's details, e.g. `CallStatus=completed CallDuration=42` or `AnsweredBy=machine_start`. */
  detail: string;
  /** When the callback arrived, epoch ms. */
  at: number;
  /** Twilio's `SequenceNumber`, when the callback had one. */
  sequence: number | undefined;
}

/** The status route, plus a look-up of what it recorded. */
export interface TwilioStatusHandler {
  /**
   * Handles one callback (its signature checked and its form read by the route table's `twilio`
   * guard): 204 when recorded, 400 without a CallSid.
   */
  (req: Request, context: { form: Record<string, string> }): Response;
  /** The latest status recorded for `callSid`, or undefined. */
  latestStatus(callSid: string): CallProgress | undefined;
}

/**
 * Builds the `POST /api/twilio/status` handler.
 *
 * @example
 * ```ts
 * const status = createTwilioStatusHandler({ hub, log });
 * // in the route table: { method: "POST", path: STATUS_CALLBACK_PATH, guard: "twilio", … }
 * status.latestStatus("CA…"); // { status: "ringing", … }
 * ```
 */
export function createTwilioStatusHandler(options: TwilioStatusOptions): TwilioStatusHandler {
  const { hub, log } = options;
  const now = options.now ?? Date.now;
  const maxTracked = options.maxTrackedCalls ?? DEFAULT_MAX_TRACKED_CALLS;
  const latest = new RecentMap<string, CallProgress>(maxTracked);

  // Calls whose machine answer was recorded here: a final callback repeating it does not record it again.
  const machines = new RecentSet<string>(maxTracked);

  /** Logs `progress`, keeps it as the latest if it is, and emits it on the hub. */
  const record = (req: Request, callSid: string, progress: CallProgress): void => {
    // The status is already in the line; the rest of the detail (duration, AMD, errors) follows it.
    const extra = progress.detail.replace(/^CallStatus=\S+ ?/, "");
    log.info(`Call status: CallSid=${callSid} ${progress.status}${extra === "" ? "" : ` (${extra})`}`);
    rememberLatest(latest, callSid, progress);
    if (progress.status === "machine-detected") machines.add(callSid);
    // The campaign dialer's calls name their attempt in the callback URL (signed with it).
    const campaignAttempt = campaignAttemptOf(new URL(req.url).searchParams);
    hub.emit({
      type: "call.status",
      at: progress.at,
      callSid,
      status: progress.status,
      detail: progress.detail,
      ...(campaignAttempt === undefined ? {} : { campaignAttempt }),
    });
  };

  const handler = (req: Request, { form: params }: { form: Record<string, string> }): Response => {
    const callSid = params.CallSid;
    if (!isCallSid(callSid)) {
      log.warnRateLimited("twilio-status-callsid", "Refused status callback: no CallSid (CA…) in the form");
      return text(400, "Missing CallSid");
    }

    const at = now();
    if (isFinal(params.CallStatus)) {
      // The call is over: no voicemail now, but its machine answer still counts (before its end).
      const machine = machineAnswer(params, at);
      if (machine !== undefined && !machines.has(callSid)) record(req, callSid, machine);
    } else if (params.AnsweredBy !== undefined) {
      options.onAnsweredBy?.(callSid, params.AnsweredBy);
    }
    const progress = toProgress(params, at);
    if (progress === undefined) {
      log.info(`Call status: CallSid=${callSid} ${untracked(params)}`);
      // 204 all the same: an error answer would only raise a warning on the user's Twilio account.
      return new Response(null, { status: 204 });
    }
    record(req, callSid, progress);
    return new Response(null, { status: 204 });
  };

  return Object.assign(handler, {
    latestStatus: (callSid: string) => latest.get(callSid),
  });
}

/** What a callback without a status Parley tracks says, for the log. */
function untracked(params: Record<string, string>): string {
  return params.CallStatus !== undefined
    ? `unknown CallStatus "${excerpt(params.CallStatus, 40)}"`
    : params.AnsweredBy !== undefined
    ? `answered by ${excerpt(params.AnsweredBy, 40)}`
    : "no CallStatus";
}

/**
 * Records `progress` as the latest status of `callSid`, unless a newer one (by Twilio's sequence
 * number) is already there; `latest` keeps the calls set most recently.
 */
function rememberLatest(
  latest: RecentMap<string, CallProgress>,
  callSid: string,
  progress: CallProgress,
): void {
  const previous = latest.get(callSid);
  if (
    previous !== undefined && previous.sequence !== undefined && progress.sequence !== undefined &&
    progress.sequence < previous.sequence
  ) {
    return; // a late callback: the map keeps the newer status
  }
  latest.set(callSid, progress);
}

/** Whether `callStatus` is one after which the call is over. */
function isFinal(callStatus: string | undefined): boolean {
  return callStatus !== undefined && FINAL_CALL_STATUSES.has(callStatus as CallStatus);
}

/** Whether `answeredBy` says a machine (or a fax) answered. */
function isMachine(answeredBy: string | undefined): boolean {
  return answeredBy !== undefined && (answeredBy.startsWith("machine_") || answeredBy === "fax");
}

/** Twilio's `SequenceNumber`, when the callback has a valid one. */
function sequenceOf(params: Record<string, string>): number | undefined {
  const sequenceText = params.SequenceNumber;
  return sequenceText !== undefined && /^\d+$/.test(sequenceText) ? Number(sequenceText) : undefined;
}

/** The callback's details Parley keeps, e.g. `CallStatus=completed CallDuration=42`. */
function detailOf(params: Record<string, string>, names: readonly string[]): string {
  const details: string[] = [];
  for (const name of names) {
    const value = params[name];
    if (value !== undefined && value !== "") details.push(`${name}=${excerpt(value, 40)}`);
  }
  return details.join(" ");
}

/**
 * The machine answer a final callback carries, as its own `machine-detected` status (detail:
 * `AnsweredBy=…` only), or undefined when it carries none.
 */
function machineAnswer(params: Record<string, string>, at: number): CallProgress | undefined {
  if (!isMachine(params.AnsweredBy)) return undefined;
  return {
    status: "machine-detected",
    detail: detailOf(params, ["AnsweredBy"]),
    at,
    sequence: sequenceOf(params),
  };
}

/**
 * Maps one callback to a status, or undefined when it carries none Parley tracks. A final
 * `CallStatus` wins; otherwise a machine answer becomes `machine-detected`.
 */
function toProgress(params: Record<string, string>, at: number): CallProgress | undefined {
  const sequence = sequenceOf(params);
  const detail = detailOf(params, [
    "CallStatus",
    "AnsweredBy",
    "CallDuration",
    "SipResponseCode",
    "ErrorCode",
  ]);
  const callStatus = params.CallStatus;
  if (!isFinal(callStatus) && isMachine(params.AnsweredBy)) {
    return { status: "machine-detected", detail, at, sequence };
  }
  if (callStatus === undefined || !TWILIO_STATUSES.has(callStatus)) return undefined;
  const status = (callStatus === "in-progress" ? "answered" : callStatus) as CallStatus;
  return { status, detail, at, sequence };
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } });
}
