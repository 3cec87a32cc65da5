/**
 * A wait that must end: a store read that a request cannot wait on for ever (a database restarting
 * or a connection that hangs must not hold a Twilio request past the point where Twilio gives up on
 * it, 15 s, so the routes that read the store on Twilio's behalf bound each read and answer without
 * it), and, through `testing/within.ts`, every wait of the tests.
 *
 * @module
 */

/**
 * `read`'s answer, or a rejection with `message` once `ms` have passed without one. The read itself
 * goes on (a promise cannot be cancelled); its late answer or failure is ignored. The timer is always
 * cleared.
 *
 * @example
 * ```ts
 * const record = await readWithin(store.getCall(callSid), 1_000).catch(() => undefined);
 * ```
 */
export function readWithin<T>(read: Promise<T>, ms: number, message?: string): Promise<T> {
  const wait = Math.max(0, ms);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message ?? `no answer within ${wait} ms`)), wait);
  });
  return Promise.race([read, late]).finally(() => clearTimeout(timer));
}
