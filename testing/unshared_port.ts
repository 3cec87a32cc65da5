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
 * Where reservations are kept ({@linkcode reservePort}): one file per port, naming the process that
 * holds it. A folder on disk, since the suite's test files run in workers and processes of their own;
 * one per OS user, who can write to it.
 */
function reservations(): string {
  return `/tmp/parley_test_ports_uid${Deno.uid() ?? 0}`;
}

/** A reservation left by a process that ended without releasing it is void after this long, ms. */
const ORPHAN_AFTER_MS = 3_600_000;

/**
 * A port on 127.0.0.1 that is free right now and reserved by no test, picked at random below Linux's
 * ephemeral range (32768–60999 by default; macOS: 49152–65535), which is where every `port: 0`
 * listener gets its port. A port taken from `port: 0` and released can be handed at once to another
 * test's server running beside this one (answering where a refused connection was meant, or keeping a
 * restarted server off its own port); one from here cannot, nor one that is reserved.
 */
export function unsharedPort(): number {
  while (true) {
    const port = FIRST + Math.floor(Math.random() * COUNT);
    if (isReservedPort(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
}

/** A port kept from {@linkcode unsharedPort}'s picks until released. */
export interface PortReservation {
  /** Lets the port be picked again (again is harmless). */
  release(): void;
}

/**
 * Keeps `port` from {@linkcode unsharedPort}'s picks, in every test process, until released: for a
 * server that stops and must listen on the same port again, while other tests pick ports beside it.
 * (A restarted Postgres once found its port taken by a server another test started during the
 * outage.)
 */
export function reservePort(port: number): PortReservation {
  Deno.mkdirSync(reservations(), { recursive: true });
  const file = `${reservations()}/${port}`;
  Deno.writeTextFileSync(file, String(Deno.pid));
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      try {
        if (Deno.readTextFileSync(file) === String(Deno.pid)) Deno.removeSync(file);
      } catch { /* already gone */ }
    },
  };
}

/** True when a live process holds a reservation of `port` ({@linkcode reservePort}). */
export function isReservedPort(port: number): boolean {
  const file = `${reservations()}/${port}`;
  let holder: string;
  let mtime: Date | null;
  try {
    holder = Deno.readTextFileSync(file);
    mtime = Deno.statSync(file).mtime;
  } catch {
    return false;
  }
  if (Deno.build.os === "linux") {
    try {
      Deno.statSync(`/proc/${Number(holder)}`);
      return true;
    } catch {
      return false; // its process ended without releasing it
    }
  }
  return mtime === null || Date.now() - mtime.getTime() < ORPHAN_AFTER_MS;
}
