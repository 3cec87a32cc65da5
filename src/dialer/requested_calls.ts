/**
 * Did a call request whose answer never came (a REST timeout, a crash between Twilio taking the call
 * and the store hearing of it) place a call? The dialer asks Twilio before it dials such a lead again:
 * the calls to its number since a little before the request, queued and ringing ones included (a queued
 * call has no start time, so Twilio's `StartTime>` filter alone misses it), less those an attempt of the
 * campaign already holds. A call found is adopted as the lead's attempt ({@linkcode adoptRequestedCall}).
 *
 * @module
 */

import type { FindCalls } from "../calls/place_call.ts";
import type { PlaceRequestContext } from "./place_request.ts";
import type { CampaignLead } from "../store/campaign.ts";
import type { ListedCall } from "../twilio/rest_client.ts";
import { TwilioRestError } from "../twilio/rest_client.ts";
import { errorText } from "../log.ts";

/** How far before the request the look-up reaches: Twilio's clock and ours may differ, and it filters to the second. */
export const LOOKUP_MARGIN_MS = 5 * 60_000;

/** Twilio's answer: the call the request placed (undefined: none), or why Twilio could not say. */
export type RequestedCall = { call: ListedCall | undefined } | { error: string };

/**
 * Asks Twilio (through `findCalls`) for the call `lead`'s last request placed, if any: the newest call
 * to its number since `lead.requestedAt` (less {@linkcode LOOKUP_MARGIN_MS}) whose CallSid is not in `known`.
 */
export async function findRequestedCall(
  findCalls: FindCalls | undefined,
  lead: CampaignLead,
  known: ReadonlySet<string>,
): Promise<RequestedCall> {
  if (findCalls === undefined) return { error: "no Twilio look-up configured" };
  let calls: ListedCall[];
  try {
    calls = await findCalls(lead.phone, (lead.requestedAt ?? lead.nextTryAt) - LOOKUP_MARGIN_MS);
  } catch (error) {
    if (error instanceof TwilioRestError) {
      return {
        error: `${error.status === undefined ? "no answer" : `HTTP ${error.status}`}: ${error.message}`,
      };
    }
    return { error: errorText(error) };
  }
  return { call: calls.find((call) => !known.has(call.sid)) };
}

/**
 * A lead whose last request's answer never came: asks Twilio whether that call exists. True when the
 * lead is taken care of (the call adopted as its attempt, or the lead put back because Twilio cannot
 * say); false when Twilio has no such call (dial it).
 */
export async function adoptRequestedCall(
  c: PlaceRequestContext,
  findCalls: FindCalls | undefined,
  lead: CampaignLead,
  now: number,
): Promise<boolean> {
  const { campaigns, log } = c;
  const known = new Set(
    (await campaigns.attempts(lead.campaignId)).flatMap((a) => a.callSid === null ? [] : [a.callSid]),
  );
  const found = await findRequestedCall(findCalls, lead, known);
  if ("error" in found) {
    log.warn(
      `Dialer: lead ${lead.id}: its last call request had no answer and Twilio cannot say whether it placed the call (${found.error}): not dialled; asked again in 30 s`,
    );
    await c.putBack(lead, now + 30_000);
    return true;
  }
  if (found.call === undefined) return false;
  const { call } = found;
  await campaigns.startAttempt(lead.id, call.startTime ?? now, call.sid);
  log.info(
    `Dialer: lead ${lead.id}: Twilio had placed CallSid=${call.sid} (${call.status}) for its unanswered request: adopted, not dialled again`,
  );
  await c.attempts.noted(call.sid, call.status);
  return true;
}
