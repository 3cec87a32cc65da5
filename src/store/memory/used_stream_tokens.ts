/**
 * The used stream tokens in process memory, as one instance has always kept them (a restart forgets
 * them; a token is good for a minute at most). Expired entries are pruned on each claim, so the
 * ledger stays bounded by the last minute's calls.
 *
 * @module
 */

import type { UsedStreamTokens } from "../ports.ts";

/**
 * A used-token ledger in memory.
 *
 * @example
 * ```ts
 * const used = createMemoryUsedStreamTokens();
 * await used.claim(token, expiry, Date.now()); // true
 * await used.claim(token, expiry, Date.now()); // false
 * ```
 */
export function createMemoryUsedStreamTokens(): UsedStreamTokens {
  /** Used tokens → their expiry. */
  const used = new Map<string, number>();
  return {
    claim(token, expiresAt, now) {
      for (const [other, expiry] of used) if (expiry < now) used.delete(other);
      if (used.has(token)) return Promise.resolve(false);
      used.set(token, expiresAt);
      return Promise.resolve(true);
    },
  };
}
