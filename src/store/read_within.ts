/**
 * A store read that a request cannot wait on for ever: a database restarting or a connection that
 * hangs must not hold a Twilio request past the point where Twilio gives up on it (15 s), so the
 * routes that read the store on Twilio's behalf bound each read and answer without it.
 *
 * @module
 */

/**
 * `read`'s answer, or a rejection naming the wait once `ms` have passed without one. The read itself
 * goes on (a promise cannot be cancelled); its late answer or failure is ignored.
 *
 * @example
 * ```ts
 * const record = await readWithin(store.getCall(callSid), 1_000).catch(() => undefined);
 * ```
 */
export function readWithin<T>(read: Promise<T>, ms: number): Promise<T> {
  const wait = Math.max(0, ms);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${wait} ms`)), wait);
  });
  return Promise.race([read, late]).finally(() => clearTimeout(timer));
}
