/**
 * Words a person understands for the enums of call records: Twilio's call statuses, Parley's end
 * reasons and the details of a status callback. The raw value stays in the API; pages show these.
 */

/** Twilio's call statuses (Parley reports `in-progress` as `answered`). */
const STATUS_WORDS = /** @type {Record<string, string>} */ ({
  queued: "Waiting to dial",
  initiated: "Dialing",
  ringing: "Ringing",
  answered: "Answered",
  "in-progress": "Answered",
  completed: "Finished",
  busy: "Line busy",
  "no-answer": "No answer",
  failed: "Could not be placed",
  canceled: "Canceled before it was answered",
  "machine-detected": "Answered by a machine",
});

/** Why a call ended, for each of `END_REASONS` in src/calls/call_events.ts (a test holds them together). */
export const END_WORDS = /** @type {Record<string, string>} */ ({
  caller_hung_up: "Ended: the caller hung up",
  agent_hung_up: "Ended: the agent hung up",
  transferred: "Transferred to a person",
  voicemail_left: "Ended: voicemail left",
  hung_up_by_user: "Ended: hung up from Parley",
  upstream_refused: "Failed: OpenAI refused the session",
  upstream_unreachable: "Failed: OpenAI could not be reached",
  upstream_dropped: "Ended: the connection to OpenAI was lost",
  no_start: "Failed: the call's audio never started",
  never_connected: "Not connected",
  server_shutdown: "Ended: Parley was shut down",
  server_crashed: "Ended: Parley stopped unexpectedly",
  max_call_minutes: "Ended: the script's time limit",
  error: "Ended by an error",
});

/** Statuses after which Twilio places no call. */
const FINAL_STATUSES = ["completed", "busy", "no-answer", "failed", "canceled"];

/**
 * A Twilio call status in words: `busy` → "Line busy".
 * @param {string | null | undefined} status
 * @returns {string}
 */
export function statusWords(status) {
  if (status === null || status === undefined) return "Waiting to dial";
  return STATUS_WORDS[status] ?? status.replaceAll(/[_-]/g, " ");
}

/**
 * An end reason in words: `caller_hung_up` → "Ended: the caller hung up".
 * @param {string | null | undefined} reason
 * @returns {string}
 */
export function endWords(reason) {
  if (reason === null || reason === undefined) return "Ended";
  return END_WORDS[reason] ?? `Ended: ${reason.replaceAll("_", " ")}`;
}

/**
 * Where a call stands, in words, from its record or summary. A call Twilio never connected says
 * why (line busy, no answer) rather than "never connected".
 * @param {{ status: string | null, startedAt: number | null, endedAt: number | null, endReason: string | null }} call
 * @returns {string}
 */
export function callStateWords(call) {
  const twilioEnded = call.status !== null && FINAL_STATUSES.includes(call.status) &&
    call.status !== "completed";
  if (call.endedAt !== null || call.endReason !== null) {
    if (call.startedAt === null && twilioEnded) return statusWords(call.status);
    return endWords(call.endReason);
  }
  if (twilioEnded) return statusWords(call.status);
  if (call.status === "completed") return "Finished";
  if (call.startedAt !== null) return "In progress";
  return statusWords(call.status);
}

/** True when {@linkcode callStateWords} describes a call that is over. */
export function isOver(
  /** @type {{ status: string | null, endedAt: number | null, endReason: string | null }} */ call,
) {
  return call.endedAt !== null || call.endReason !== null ||
    (call.status !== null && FINAL_STATUSES.includes(call.status));
}

/**
 * A status callback's details in words: `CallStatus=completed CallDuration=42 AnsweredBy=human` →
 * "after 42 s · a person answered". Codes Twilio gives for failures are kept, labelled.
 * @param {string} detail
 * @returns {string}
 */
export function statusDetailWords(detail) {
  /** @type {string[]} */
  const words = [];
  for (const [, name, value] of detail.matchAll(/(\w+)=(\S+)/g)) {
    if (name === "CallDuration") words.push(`after ${value} s`);
    else if (name === "AnsweredBy") {
      words.push(
        value === "human"
          ? "a person answered"
          : value === "fax"
          ? "a fax machine answered"
          : value === "unknown"
          ? "could not tell who answered"
          : "an answering machine answered",
      );
    } else if (name === "SipResponseCode") words.push(`SIP code ${value}`);
    else if (name === "ErrorCode") words.push(`Twilio error ${value}`);
  }
  return words.join(" · ");
}

/**
 * A length of time in words: 83000 → "1 min 23 s".
 * @param {number | null | undefined} ms
 * @returns {string}
 */
export function durationWords(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/**
 * A count and its noun, plural unless one: (2, "lead") → "2 leads".
 * @param {number} n
 * @param {string} noun
 * @returns {string}
 */
export function plural(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
