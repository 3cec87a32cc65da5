/**
 * Asks Twilio where the calls a start took up stand (`Parley.takeUpRinging`): a final status Twilio
 * sent while Parley was down or draining is lost (Twilio does not send a status callback again), so
 * without asking, a call already over would hold its admission slot until the rest of its ring passed
 * and end `never_connected` with a detail that blames the tunnel. A call Twilio reports over is told to
 * the hub as its status callback would have (`call.status`), and ends as it would have then; a call still
 * ringing, one Twilio does not know, or a question Twilio does not answer is left to the watch.
 *
 * @module
 */

import { type CallStatus, FINAL_CALL_STATUSES } from "./call_events.ts";
import type { CallHub } from "./call_hub.ts";
import type { Logger } from "../log.ts";
import { errorText } from "../log.ts";

/** The status Twilio has for `callSid` now, or undefined when it has no such call. */
export type ReadCallStatus = (callSid: string) => Promise<string | undefined>;

/** What {@linkcode settleTakenUpCalls} needs. */
export interface SettleTakenUpOptions {
  readStatus: ReadCallStatus;
  hub: CallHub;
  log: Logger;
  /** Wall clock for the events. @default Date.now */
  now?: () => number;
}

/**
 * For each of `callSids` (taken up at a start), asks Twilio for its status and emits the final ones as
 * `call.status`. Resolves when every answer came (or failed: logged once, the call left to the watch).
 *
 * @example
 * ```ts
 * await settleTakenUpCalls(["CA…"], { readStatus, hub, log });
 * ```
 */
export async function settleTakenUpCalls(
  callSids: readonly string[],
  options: SettleTakenUpOptions,
): Promise<void> {
  const now = options.now ?? Date.now;
  let failed = 0;
  let lastError = "";
  await Promise.all(callSids.map(async (callSid) => {
    let status: string | undefined;
    try {
      status = await options.readStatus(callSid);
    } catch (error) {
      failed++;
      lastError = errorText(error);
      return;
    }
    if (status === undefined || !FINAL_CALL_STATUSES.has(status as CallStatus)) return;
    options.log.info(
      `Taken-up call CallSid=${callSid} is over at Twilio (${status}): its status callback was missed`,
    );
    options.hub.emit({
      type: "call.status",
      at: now(),
      callSid,
      status: status as CallStatus,
      detail: "asked of Twilio at start-up: its status callback came while Parley was down",
    });
  }));
  if (failed > 0) {
    options.log.warn(
      `Cannot ask Twilio where ${failed} taken-up call(s) stand (${lastError}): they wait for their status callback or their deadline`,
    );
  }
}
