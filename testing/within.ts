/**
 * `within()`: bounds a wait in a test, so a missing event fails the test with a message instead of
 * hanging it. The timer is always cleared (the tests run with --trace-leaks): the bound is the one the
 * server's own store reads use (`src/read_within.ts`).
 *
 * @module
 */

import { readWithin } from "../src/read_within.ts";

/** Resolves with `promise`, or rejects naming `what` after `ms`. */
export function within<T>(promise: Promise<T>, what: string, ms = 5_000): Promise<T> {
  return readWithin(promise, ms, `Timed out after ${ms} ms waiting for ${what}`);
}
