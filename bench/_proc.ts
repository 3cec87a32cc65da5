/**
 * The processes under test: spawning a relay as a subprocess, reading its CPU time and RSS, and
 * describing the machine.
 *
 * Deno treats every `/proc` read as needing `--allow-all`, so the bench asks `cat` (it holds
 * `--allow-run=cat`) for `/proc/<pid>/stat` and `/proc/<pid>/status` instead of taking `-A`.
 * CPU time is `utime + stime` of the whole process (every thread: V8's, tokio's) in clock ticks.
 *
 * @module
 */

import { LineReader } from "../testing/line_reader.ts";

export { LineReader };

const decoder = new TextDecoder();

/** CPU time and resident memory of a process at one moment. */
export interface ProcSnapshot {
  /** performance.now() when read. */
  at: number;
  /** utime + stime, ms. */
  cpuMs: number;
  /** VmRSS, KiB. */
  rssKb: number;
}

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK` (100 on every mainstream Linux), read once. */
export async function clockTicksPerSecond(): Promise<number> {
  if (ticksPerSecond !== undefined) return ticksPerSecond;
  try {
    const output = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped", stderr: "null" })
      .output();
    const value = Number(decoder.decode(output.stdout).trim());
    ticksPerSecond = Number.isFinite(value) && value > 0 ? value : 100;
  } catch {
    ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

/** Reads files with `cat` (Deno needs `--allow-all` to read `/proc` itself). */
export async function catFiles(paths: string[]): Promise<string> {
  const output = await new Deno.Command("cat", { args: paths, stdout: "piped", stderr: "piped" }).output();
  if (!output.success) {
    throw new Error(`Cannot read ${paths.join(", ")}: ${decoder.decode(output.stderr).trim()}`);
  }
  return decoder.decode(output.stdout);
}

/**
 * CPU time and RSS of process `pid`.
 *
 * @example
 * ```ts
 * const before = await readProc(child.pid);
 * // … load …
 * const after = await readProc(child.pid);
 * const cpuMs = after.cpuMs - before.cpuMs;
 * ```
 */
export async function readProc(pid: number): Promise<ProcSnapshot> {
  const hz = await clockTicksPerSecond();
  const started = performance.now();
  const text = await catFiles([`/proc/${pid}/stat`, `/proc/${pid}/status`]);
  const at = (started + performance.now()) / 2;
  const statLine = text.slice(0, text.indexOf("\n"));
  // Fields after "pid (comm) ": state is field 3, utime 14, stime 15 (1-based).
  const fields = statLine.slice(statLine.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(text);
  if (!Number.isFinite(ticks) || rss === null) throw new Error(`Cannot parse /proc/${pid}: ${statLine}`);
  return { at, cpuMs: (ticks * 1000) / hz, rssKb: Number(rss[1]) };
}

/**
 * CPU time and RSS of several processes, summed (a cluster's instances, Postgres's processes). A
 * process that is gone by the time it is read counts for nothing.
 */
export async function readProcs(pids: number[]): Promise<ProcSnapshot> {
  if (pids.length === 1) return await readProc(pids[0]!);
  const started = performance.now();
  const snapshots = await Promise.all(pids.map((pid) => readProc(pid).catch(() => undefined)));
  const at = (started + performance.now()) / 2;
  let cpuMs = 0;
  let rssKb = 0;
  for (const snapshot of snapshots) {
    cpuMs += snapshot?.cpuMs ?? 0;
    rssKb += snapshot?.rssKb ?? 0;
  }
  return { at, cpuMs, rssKb };
}

/** The children of process `pid` (Postgres's postmaster: its backends and workers), from /proc. */
export async function childPids(pid: number): Promise<number[]> {
  const text = await catFiles([`/proc/${pid}/task/${pid}/children`]).catch(() => "");
  return text.trim().split(/\s+/).filter((word) => word !== "").map(Number);
}

/** The parent of process `pid`, from /proc/<pid>/stat. */
export async function parentPid(pid: number): Promise<number> {
  const line = await catFiles([`/proc/${pid}/stat`]);
  // Fields after "pid (comm) ": state, then ppid.
  const ppid = Number(line.slice(line.lastIndexOf(")") + 2).split(" ")[1]);
  if (!Number.isInteger(ppid) || ppid <= 0) throw new Error(`Cannot read the parent of process ${pid}`);
  return ppid;
}

/** The machine a run was measured on. */
export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  deno: string;
  v8: string;
  typescript: string;
  /** 1, 5 and 15 minute load averages before the run (other work on the machine skews figures). */
  loadAverage: number[];
  date: string;
}

/** Describes this machine and Deno. */
export async function machineInfo(): Promise<MachineInfo> {
  let cpuModel = "unknown";
  let memoryGiB = 0;
  let kernel = "unknown";
  let loadAverage: number[] = [];
  try {
    const [cpuinfo, meminfo, release, loadavg] = await Promise.all(
      ["/proc/cpuinfo", "/proc/meminfo", "/proc/sys/kernel/osrelease", "/proc/loadavg"].map((path) =>
        catFiles([path])
      ),
    );
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(cpuinfo!)?.[1]?.trim() ?? cpuModel;
    const kb = Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo!)?.[1] ?? 0);
    memoryGiB = Math.round((kb / 2 ** 20) * 10) / 10;
    kernel = release!.trim();
    loadAverage = loadavg!.trim().split(/\s+/).slice(0, 3).map(Number);
  } catch { /* not Linux: keep what is known */ }
  return {
    cpus: navigator.hardwareConcurrency,
    cpuModel,
    memoryGiB,
    kernel,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    loadAverage,
    date: new Date().toISOString(),
  };
}

/** How to start one relay. */
export interface ServerSpec {
  /** Name for messages ("Parley", "bare relay"). */
  name: string;
  /** Arguments after `deno`. */
  args: string[];
  /** Working directory. */
  cwd: string;
  /** The only environment the child gets (plus HOME, PATH, DENO_DIR, NO_COLOR). */
  env: Record<string, string>;
  /** The stdout line that gives the port, with the port as group 1. */
  listening: RegExp;
  /** Give up waiting for `listening` after this many ms. @default 60000 */
  startTimeoutMs?: number;
}

/** A running relay subprocess. */
export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  readonly stdout: LineReader;
  readonly stderr: LineReader;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number>;
  /** Sends the process a signal (SIGUSR2: a full GC, see `_gc_hook.ts`). */
  signal(signal: Deno.Signal): void;
}

/** The Deno executable the children run: this one when the permission allows, else `deno` on PATH. */
export function denoExecutable(): string {
  try {
    const path = Deno.execPath();
    if (Deno.permissions.querySync({ name: "run", command: path }).state === "granted") return path;
  } catch { /* no read permission for the executable's path */ }
  return "deno";
}

/**
 * Spawns a relay and waits until it listens.
 *
 * @throws {Error} if it exits first or does not listen within `startTimeoutMs`, with its output.
 */
export async function spawnServer(spec: ServerSpec): Promise<ServerProcess> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["HOME", "PATH", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  const child = new Deno.Command(denoExecutable(), {
    args: spec.args,
    cwd: spec.cwd,
    clearEnv: true,
    env: { ...env, ...spec.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new LineReader(child.stdout);
  const stderr = new LineReader(child.stderr);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async (graceMs = 10_000): Promise<number> => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
        resolve();
      }, graceMs);
    });
    const result = await Promise.race([status, killed.then(() => status)]);
    clearTimeout(timer);
    await Promise.all([stdout.done, stderr.done]);
    return result.code;
  };
  const output = () => `${stderr.lines.slice(-20).join("\n")}\n${stdout.lines.slice(-20).join("\n")}`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const line = await Promise.race([
      stdout.waitFor(spec.listening, 0, (spec.startTimeoutMs ?? 60_000) + 1_000),
      status.then((s) => {
        throw new Error(`${spec.name} exited with code ${s.code} before listening:\n${output()}`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${spec.name} did not listen within ${spec.startTimeoutMs ?? 60_000} ms`)),
          spec.startTimeoutMs ?? 60_000,
        );
      }),
    ]);
    const port = Number(spec.listening.exec(line)?.[1]);
    const signal = (sig: Deno.Signal) => child.kill(sig);
    return { name: spec.name, pid: child.pid, port, stdout, stderr, stop, signal };
  } catch (error) {
    await stop(2_000);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
