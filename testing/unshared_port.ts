/**
 * Ports for tests that need one nothing else may take while they hold it unbound: a server that must
 * listen again on the same port after a restart, or an address that must refuse connections.
 *
 * @module
 */

/** Start of the range `unsharedPort` picks from (20000–31999). */
const FIRST = 20_000;
const COUNT = 12_000;

/**
 * A port on 127.0.0.1 that is free right now, picked at random below Linux's ephemeral range
 * (32768–60999 by default; macOS: 49152–65535), which is where every `port: 0` listener gets its
 * port. A port taken from `port: 0` and released can be handed at once to another test's server
 * running beside this one (answering where a refused connection was meant, or keeping a restarted
 * server off its own port); one from here cannot.
 */
export function unsharedPort(): number {
  while (true) {
    const port = FIRST + Math.floor(Math.random() * COUNT);
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
}
