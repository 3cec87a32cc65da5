/**
 * Which campaign attempt a call is, as its status callback URL names it: written by the dialer, read
 * back by the status callback.
 *
 * @module
 */

/** A campaign attempt as a status callback's URL names it: `?campaign=…&lead=…&attempt=…`. */
export interface CampaignAttemptRef {
  campaignId: number;
  campaignLeadId: number;
  /** The attempt's number for its lead: 1, 2, 3… */
  attempt: number;
}

/** The query a campaign call's status callback URL carries, as `campaignAttemptQuery` wrote it. */
export function campaignAttemptOf(query: URLSearchParams): CampaignAttemptRef | undefined {
  const [campaignId, campaignLeadId, attempt] = ["campaign", "lead", "attempt"].map((name) => {
    const value = query.get(name);
    return value !== null && /^[1-9]\d{0,15}$/.test(value) ? Number(value) : undefined;
  });
  if (campaignId === undefined || campaignLeadId === undefined || attempt === undefined) return undefined;
  return { campaignId, campaignLeadId, attempt };
}

/** The status callback URL's query naming a campaign attempt: `campaign=…&lead=…&attempt=…`. */
export function campaignAttemptQuery(ref: CampaignAttemptRef): Record<string, string> {
  return { campaign: String(ref.campaignId), lead: String(ref.campaignLeadId), attempt: String(ref.attempt) };
}
