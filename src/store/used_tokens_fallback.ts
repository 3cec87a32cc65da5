/**
 * The used-stream-token ledger of several instances, kept working through a database outage. A token is
 * claimed in this instance's own memory first (a second socket with it here is refused whatever the
 * database does), then in the shared ledger (refused if another instance took it). While the shared
 * ledger fails or does not answer in time, this instance's word stands and the failure is reported: a
 * database restarting must not refuse the first socket of every call (Twilio would play the fallback).
 * Only a replay of a captured token to another instance, within the token's minute, during the outage,
 * could then pass, where it is otherwise refused.
 *
 * @module
 */

import { createMemoryUsedStreamTokens, type UsedStreamTokens } from "../twilio/stream_token.ts";
import { readWithin } from "../read_within.ts";

/** How long a claim waits for the shared ledger before this instance's word stands, ms. */
export const SHARED_CLAIM_WAIT_MS = 1_000;

/**
 * `shared`, with this instance's own ledger in front of it and in its stead while it fails; `onFailure`
 * hears each failed or late shared claim.
 *
 * @example
 * ```ts
 * const used = withLocalFallback(postgresUsedStreamTokens(sql), (error) => log.warn(errorText(error)));
 * ```
 */
export function withLocalFallback(
  shared: UsedStreamTokens,
  onFailure: (error: unknown) => void,
  waitMs = SHARED_CLAIM_WAIT_MS,
): UsedStreamTokens {
  const local = createMemoryUsedStreamTokens();
  return {
    async claim(token, expiresAt, now) {
      if (!(await local.claim(token, expiresAt, now))) return false;
      try {
        return await readWithin(shared.claim(token, expiresAt, now), waitMs);
      } catch (error) {
        onFailure(error);
        return true;
      }
    },
  };
}
