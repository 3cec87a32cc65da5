/**
 * Ports for tests that need one nothing else may take while they hold it unbound: a server that must
 * listen again on the same port after a restart, or an address that must refuse connections.
 *
 * @module
 */

/** Start of the range `unsharedPort` picks from (20000–31999). */
const FIRST = 20_000;
const COUNT = 12_000;

/** A reservation left by a process that ended without releasing it is void after this long, ms. */
const ORPHAN_AFTER_MS = 3_600_000;

/** Whether this worker swept the void reservations yet (once is enough). */
let swept = false;

/**
 * A port on 127.0.0.1, picked at random below Linux's ephemeral range (32768–60999 by default; macOS:
 * 49152–65535), which is where every `port: 0` listener gets its port; free when picked, and reserved
 * for this process until {@linkcode releasePort} (or until the process ends): no other call of
 * `unsharedPort`, in any test process, picks it meanwhile.
 *
 * So a server can stop and listen on it again (a restarted Postgres once found its port taken by a
 * server another test started during the outage), and an address meant to refuse connections keeps
 * refusing them. A port taken from `port: 0` and released could be handed at once to another test's
 * server; one from here cannot.
 */
export function unsharedPort(): number {
  sweepOnce();
  while (true) {
    const port = FIRST + Math.floor(Math.random() * COUNT);
    if (!claim(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch (error) {
      releasePort(port);
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
}

/** Lets `port`, from {@linkcode unsharedPort}, be picked again (again is harmless). */
export function releasePort(port: number): void {
  const file = reservationFile(port);
  try {
    if (Deno.readTextFileSync(file) === String(Deno.pid)) Deno.removeSync(file);
  } catch { /* already gone */ }
}

/** True when a live process holds `port` from {@linkcode unsharedPort}. */
export function isReservedPort(port: number): boolean {
  const file = reservationFile(port);
  try {
    const holder = Deno.readTextFileSync(file);
    if (Deno.build.os !== "linux") {
      const mtime = Deno.statSync(file).mtime;
      return mtime === null || Date.now() - mtime.getTime() < ORPHAN_AFTER_MS;
    }
    Deno.statSync(`/proc/${Number(holder)}`); // throws when its process ended without releasing it
    return true;
  } catch {
    return false;
  }
}

/**
 * Where reservations are kept: one file per port, naming the process that holds it. A folder on disk,
 * since the suite's test files run in workers and processes of their own; one per OS user, who can
 * write to it.
 */
function reservations(): string {
  return `/tmp/parley_test_ports_uid${Deno.uid() ?? 0}`;
}

function reservationFile(port: number): string {
  return `${reservations()}/${port}`;
}

/** Reserves `port` for this process unless a live one holds it; true when it is this process's now. */
function claim(port: number): boolean {
  const file = reservationFile(port);
  try {
    Deno.writeTextFileSync(file, String(Deno.pid), { createNew: true });
    return true;
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  if (isReservedPort(port)) return false;
  Deno.writeTextFileSync(file, String(Deno.pid)); // a void one: its holder is gone
  return true;
}

/** Makes the folder, and removes the reservations of processes that ended without releasing them. */
function sweepOnce(): void {
  if (swept) return;
  swept = true;
  Deno.mkdirSync(reservations(), { recursive: true });
  for (const entry of Deno.readDirSync(reservations())) {
    const port = Number(entry.name);
    if (!Number.isInteger(port) || isReservedPort(port)) continue;
    try {
      Deno.removeSync(reservationFile(port));
    } catch { /* another sweep took it */ }
  }
}
