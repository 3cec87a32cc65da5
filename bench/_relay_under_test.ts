/**
 * What one bench measurement runs against ({@linkcode RelayUnderTest}): one relay process, or a
 * cluster of Parley instances behind a proxy (`_cluster.ts`); and the CPU readings of the processes
 * beside it (a cluster's Postgres, the proxy), taken when the window opens and closes.
 *
 * @module
 */

import { type ProcSnapshot, readProc, type ServerProcess } from "./_proc.ts";

/** What one measurement runs against: one relay process, or several behind a proxy. */
export interface RelayUnderTest {
  /** Name for messages. */
  name: string;
  /** Where the calls connect. */
  port: number;
  /** The processes whose CPU time and RSS are the relay's (summed). */
  pids: number[];
  /** Each Parley instance's own port (its /healthz); empty for the floor. */
  parleyPorts: number[];
  /**
   * The relay's own processes (the one relay, or every Parley instance; not the proxy), each under
   * `--expose-gc` with the bench's GC hook: SIGUSR2 collects them all before RSS is read.
   */
  servers: ServerProcess[];
  /** Processes measured apart, by name (a cluster's Postgres, the proxy): their pids, read at each snapshot. */
  beside?: Record<string, () => Promise<number[]>>;
  /** Connect every webhook afresh (a balancer sees each request as new). */
  freshConnections?: boolean;
  /** Priming calls before the figures (every instance of a cluster warm). @default 1 */
  primingCalls?: number;
  /** Subtract agent frames of pre-warmed sessions no call used (another instance took the call) from the lost. */
  unusedPrewarmsAreNotLost?: boolean;
  /** Stops everything; resolves with one problem per process that did not exit cleanly. */
  stop(graceMs?: number): Promise<string[]>;
  /** Every process's stderr lines so far. */
  stderr(): string[];
}

/**
 * Starts a {@linkcode RelayUnderTest} pointed at the fake upstream at `upstreamUrl`, its data under
 * `dataDir` (relative to the repository, which exists and is removed after the run).
 */
export type RelayStarter = (upstreamUrl: string, dataDir: string) => Promise<RelayUnderTest>;

/** One relay process as a {@linkcode RelayUnderTest}. */
export function singleProcess(server: ServerProcess, parley: boolean): RelayUnderTest {
  return {
    name: server.name,
    port: server.port,
    pids: [server.pid],
    parleyPorts: parley ? [server.port] : [],
    servers: [server],
    async stop(graceMs) {
      const code = await server.stop(graceMs);
      return code === 0 ? [] : [`${server.name} exited with code ${code} on SIGTERM`];
    },
    stderr: () => server.stderr.lines,
  };
}

/** CPU readings of the processes beside a relay, by name: listed when the window opens, each read at both ends. */
export class BesideReadings {
  readonly #lists: Record<string, () => Promise<number[]>>;
  readonly #readings = new Map<string, { pids: number[]; before: ProcSnapshot[]; after?: ProcSnapshot[] }>();

  /** `lists`: name → the pids to read (asked once, when the window opens). */
  constructor(lists: Record<string, () => Promise<number[]>>) {
    this.#lists = lists;
  }

  /** Reads every group: `before` lists their processes first, `after` reads the same ones again. */
  async read(when: "before" | "after"): Promise<void> {
    const readEach = (pids: number[]) =>
      Promise.all(pids.map((pid) => readProc(pid).catch(() => ({ at: NaN, cpuMs: NaN, rssKb: 0 }))));
    for (const [name, list] of Object.entries(this.#lists)) {
      if (when === "before") {
        const pids = await list();
        this.#readings.set(name, { pids, before: await readEach(pids) });
      } else {
        const entry = this.#readings.get(name);
        if (entry !== undefined) entry.after = await readEach(entry.pids);
      }
    }
  }

  /** Each group's share of one core between the readings, % (NaN when not read at both ends). */
  cpuPercent(): Record<string, { cpuPercent: number }> {
    const shares: Record<string, { cpuPercent: number }> = {};
    for (const name of Object.keys(this.#lists)) {
      const entry = this.#readings.get(name);
      shares[name] = { cpuPercent: entry === undefined ? NaN : share(entry.before, entry.after) };
    }
    return shares;
  }
}

/** The share of one core a group of processes used between two readings (processes read both times). */
function share(before: ProcSnapshot[], after: ProcSnapshot[] | undefined): number {
  let cpuMs = 0;
  let windowMs = 0;
  let read = 0;
  before.forEach((b, i) => {
    const a = after?.[i];
    if (a === undefined || Number.isNaN(a.cpuMs) || Number.isNaN(b.cpuMs)) return;
    cpuMs += a.cpuMs - b.cpuMs;
    windowMs += a.at - b.at;
    read++;
  });
  return read === 0 ? NaN : (100 * cpuMs) / (windowMs / read);
}
