/**
 * One claimed lead's call request to Twilio, and what comes of it: the call placed and its attempt
 * opened; a refusal (a 4xx) noted as a failed attempt; or, when Twilio asked for less (a 429 or 5xx) or
 * did not answer at all, the lead put back after the campaign's backoff (doubling up to a minute). With
 * no answer the request stays noted on the lead, so Twilio is asked whether it placed the call before
 * anyone dials it again (`requested_calls.ts`).
 *
 * @module
 */

import { campaignAttemptQuery } from "../calls/campaign_attempt.ts";
import { oneLine, reservedPrefixProblem } from "../calls/call_parameters.ts";
import type { PlaceOutboundCall } from "../calls/place_call.ts";
import type { Logger } from "../log.ts";
import type { Campaign, CampaignLead } from "../store/campaign.ts";
import type { Campaigns } from "../store/ports.ts";
import { TwilioRestError } from "../twilio/rest_client.ts";
import { type AttemptEnds, settlementFor } from "./attempt_ends.ts";
import { errorText } from "../log.ts";

/** What became of one claimed lead in a pass: `stop_pass` when the rest of the pass must wait too. */
export type Dialled = "placed" | "put_back" | "stop_pass";

/** The longest wait after Twilio asked for less, ms. */
const MAX_BACKOFF_MS = 60_000;

/** Each campaign's wait before its next request after Twilio asked for less: doubling, up to a minute. */
export class CampaignBackoff {
  readonly #waits = new Map<number, number>();
  readonly #firstMs: number;

  /** The first wait is `firstMs`. */
  constructor(firstMs: number) {
    this.#firstMs = firstMs;
  }

  /** The wait now for `campaignId`; the next one doubles. */
  next(campaignId: number): number {
    const wait = this.#waits.get(campaignId) ?? this.#firstMs;
    this.#waits.set(campaignId, Math.min(MAX_BACKOFF_MS, wait * 2));
    return wait;
  }

  /** Twilio took a call: the campaign's next wait is the first again. */
  reset(campaignId: number): void {
    this.#waits.delete(campaignId);
  }
}

/** What placing a request needs of the dialer. */
export interface PlaceRequestContext {
  campaigns: Campaigns;
  placeCall: PlaceOutboundCall;
  log: Logger;
  attempts: AttemptEnds;
  backoff: CampaignBackoff;
  /** Puts the lead back as pending, due at `nextTryAt`; `requestRefused` clears its noted request. */
  putBack(lead: CampaignLead, nextTryAt: number, requestRefused?: boolean): Promise<void>;
}

/**
 * Sends `lead`'s call request to Twilio (its dial slot taken and the request noted by the caller) and
 * notes what came of it.
 */
export async function placeRequest(
  c: PlaceRequestContext,
  campaign: Campaign,
  lead: CampaignLead,
  now: number,
): Promise<Dialled> {
  // As the calling page sends them: the lead's name as `lead`, its company and free fields.
  const parameters: Record<string, string> = { lead: lead.name, ...lead.fields, ...campaign.parameters };
  delete parameters.timezone;
  delete parameters.tags;
  // A lead stored before its fields were checked as they are now: Parley's own names (the voice webhook
  // would refuse the call) are left out, and line breaks become spaces (a parameter is one line).
  for (const [name, value] of Object.entries(parameters)) {
    if (reservedPrefixProblem(name) !== undefined) delete parameters[name];
    else parameters[name] = oneLine(value);
  }
  let callSid: string;
  try {
    callSid = await c.placeCall({
      to: lead.phone,
      persona: campaign.persona,
      voice: campaign.voice,
      parameters,
      machineDetection: campaign.machineDetection ? "DetectMessageEnd" : undefined,
      // The attempt this call will be (the lead is ours: no other attempt opens meanwhile).
      statusCallbackQuery: campaignAttemptQuery({
        campaignId: campaign.id,
        campaignLeadId: lead.id,
        attempt: lead.attempts + 1,
      }),
    });
  } catch (error) {
    // No answer: the request went out and Twilio may have placed the call. Another error (settings
    // missing) was thrown before anything was sent.
    const rest = error instanceof TwilioRestError;
    const unanswered = rest && error.status === undefined;
    if (!rest || unanswered || error.status! === 429 || error.status! >= 500) {
      const wait = c.backoff.next(campaign.id);
      c.log.warn(
        `Dialer: campaign ${campaign.id}: Twilio did not take the call (${describeError(error)}): ${
          unanswered ? "Twilio is asked whether it placed it before " : ""
        }trying lead ${lead.id} again in ${wait} ms`,
      );
      // An answer (429, 5xx) says no call was made; no answer keeps the request noted.
      await c.putBack(lead, now + wait, !unanswered);
      return "stop_pass";
    }
    const attempt = await c.campaigns.startAttempt(lead.id, now);
    const detail = `Twilio refused the call: ${describeError(error)}`;
    await c.campaigns.finishAttempt(
      attempt.id,
      { at: now, disposition: "failed", detail },
      settlementFor(campaign, "failed", attempt.attempt, now),
    );
    return "placed";
  }
  c.backoff.reset(campaign.id);
  try {
    await c.campaigns.startAttempt(lead.id, now, callSid);
  } catch (error) {
    // The lead's request stays noted: once it is put back, Twilio is asked for this call (adopted, not
    // dialled again).
    throw new Error(
      `lead ${lead.id}: Twilio placed CallSid=${callSid} and its attempt could not be stored (${
        errorText(error)
      }): the call is looked up before the lead is dialled again`,
      { cause: error },
    );
  }
  c.attempts.notedLater(callSid);
  return "placed";
}

/** A request's failure in a log line's words: Twilio's status and message, or the error's. */
function describeError(error: unknown): string {
  if (error instanceof TwilioRestError) {
    return `${error.status === undefined ? "no answer" : `HTTP ${error.status}`}: ${error.message}${
      error.code === undefined ? "" : ` (code ${error.code})`
    }`;
  }
  return errorText(error);
}
