/**
 * Sign-in sessions in process memory: what one SQLite instance keeps (a restart signs everyone out,
 * as before). Expired sessions are forgotten when met and whenever a session starts.
 *
 * @module
 */

import type { SignInSessions } from "../ports.ts";

/**
 * A session table in memory.
 *
 * @example
 * ```ts
 * const sessions = createMemorySignInSessions();
 * await sessions.create(id, Date.now() + 60_000, Date.now());
 * await sessions.isLive(id, Date.now()); // true
 * ```
 */
export function createMemorySignInSessions(): SignInSessions {
  const live = new Map<string, number>();
  return {
    create(id, expiresAt, now) {
      for (const [other, expires] of live) if (expires <= now) live.delete(other);
      live.set(id, expiresAt);
      return Promise.resolve();
    },
    isLive(id, now) {
      const expires = live.get(id);
      if (expires === undefined) return Promise.resolve(false);
      if (expires > now) return Promise.resolve(true);
      live.delete(id);
      return Promise.resolve(false);
    },
    end(id) {
      live.delete(id);
      return Promise.resolve();
    },
  };
}
