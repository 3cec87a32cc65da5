/**
 * What the cluster bench (`--cluster=N`) runs against: N Parley instances (`bench/_gc_main.ts` with
 * the `start` task's flags, `DATABASE_URL` and `INSTANCE_ID` set; each answers SIGUSR2 with a full GC,
 * so RSS is read after one in every instance) on a throwaway Postgres (`_postgres_main.ts`), behind the
 * round-robin proxy (`_proxy_main.ts`); and, to compare with in the same run, one Parley on SQLite
 * behind the same proxy, so both pay the same extra hop. Every webhook goes on a new
 * connection, so the proxy spreads the requests of one call over the instances as a load balancer
 * does: the media socket usually lands on another instance than the webhook that pre-warmed.
 *
 * @module
 */

import { type RelayStarter, type RelayUnderTest, ROOT, startRelay } from "./_relays.ts";
import { denoExecutable, type ServerProcess, spawnServer } from "./_proc.ts";

const POSTGRES_FLAGS = [
  "--allow-run",
  "--allow-read",
  "--allow-write",
  "--allow-net=127.0.0.1",
  "--allow-env",
  "--allow-sys",
];

/** Why the cluster bench cannot run here (no Postgres installed), or undefined when it can. */
export async function postgresMissing(): Promise<string | undefined> {
  const output = await new Deno.Command(denoExecutable(), {
    args: ["run", "--allow-read=/usr/lib/postgresql", "bench/_postgres_main.ts", "--check"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (output.success) return undefined;
  const text = new TextDecoder().decode(output.code === 3 ? output.stdout : output.stderr).trim();
  return text.split("\n").slice(-3).join(" ") || `bench/_postgres_main.ts --check exited with ${output.code}`;
}

/** Starts the proxy in front of `ports`. */
function startProxy(ports: number[]): Promise<ServerProcess> {
  return spawnServer({
    name: "round-robin proxy",
    args: ["run", "--allow-net=127.0.0.1", "bench/_proxy_main.ts", `--backends=${ports.join(",")}`],
    cwd: ROOT,
    env: {},
    listening: /Round-robin proxy listening on port (\d+)/,
  });
}

/** Stops every process (the proxy first, then Parley, then Postgres), once; resolves with the problems. */
function stopper(proxy: ServerProcess | undefined, instances: ServerProcess[], postgres?: ServerProcess) {
  let stopping: Promise<string[]> | undefined;
  return (graceMs?: number): Promise<string[]> => {
    stopping ??= (async () => {
      const problems: string[] = [];
      const check = (server: ServerProcess, code: number) => {
        if (code !== 0) problems.push(`${server.name} exited with code ${code} on SIGTERM`);
      };
      if (proxy !== undefined) check(proxy, await proxy.stop(graceMs));
      await Promise.all(instances.map(async (server) => check(server, await server.stop(graceMs))));
      if (postgres !== undefined) check(postgres, await postgres.stop(graceMs));
      return problems;
    })();
    return stopping;
  };
}

/** Starts `count` Parley instances, all or none (a failure stops the ones that started). */
async function startInstances(
  count: number,
  start: (index: number) => Promise<ServerProcess>,
): Promise<ServerProcess[]> {
  const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => start(i)));
  const started = results.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed !== undefined) {
    await Promise.all(started.map((server) => server.stop(2_000)));
    throw failed.reason;
  }
  return started;
}

/** One Parley on SQLite behind the proxy: the single-instance run the cluster is compared with. */
export function singleBehindProxy(options: { v8Flags?: string; primingCalls?: number }): RelayStarter {
  return async (upstreamUrl, dataDir) => {
    const [parley] = await startInstances(1, () =>
      startRelay("parley", upstreamUrl, {
        dataDir,
        profileDir: undefined,
        name: "Parley alone (SQLite)",
        ...(options.v8Flags === undefined ? {} : { v8Flags: options.v8Flags }),
      }));
    let proxy: ServerProcess;
    try {
      proxy = await startProxy([parley!.port]);
    } catch (error) {
      await parley!.stop(2_000);
      throw error;
    }
    return {
      name: "Parley alone (SQLite)",
      port: proxy.port,
      pids: [parley!.pid],
      servers: [parley!],
      parleyPorts: [parley!.port],
      beside: { proxy: () => Promise.resolve([proxy.pid]) },
      freshConnections: true,
      // As many as the cluster's, so that both are measured equally warm.
      ...(options.primingCalls === undefined ? {} : { primingCalls: options.primingCalls }),
      stop: stopper(proxy, [parley!]),
      stderr: () => parley!.stderr.lines,
    } satisfies RelayUnderTest;
  };
}

/**
 * Priming calls per instance before a cluster's figures (the single instance beside it gets as many
 * in all, so that both are measured equally warm).
 */
export const CLUSTER_PRIMING_CALLS_PER_INSTANCE = 2;

/** `size` Parley instances on a fresh throwaway Postgres, behind the proxy. */
export function clusterOnPostgres(size: number, options: { v8Flags?: string }): RelayStarter {
  return async (upstreamUrl, dataDir) => {
    const postgres = await spawnServer({
      name: "Postgres",
      args: ["run", ...POSTGRES_FLAGS, "bench/_postgres_main.ts"],
      cwd: ROOT,
      env: {},
      listening: /^Postgres listening on port (\d+): /,
      startTimeoutMs: 120_000,
    });
    let instances: ServerProcess[] = [];
    try {
      const line = postgres.stdout.lines.find((l) => l.startsWith("Postgres listening on port "))!;
      const databaseUrl = line.slice(line.indexOf(": ") + 2);
      for (let i = 0; i < size; i++) {
        await Deno.mkdir(`${ROOT}${dataDir}/instance-${i + 1}`, { recursive: true });
      }
      instances = await startInstances(size, (i) =>
        startRelay("parley", upstreamUrl, {
          dataDir: `${dataDir}/instance-${i + 1}`,
          profileDir: undefined,
          name: `Parley #${i + 1} (Postgres)`,
          env: { DATABASE_URL: databaseUrl, INSTANCE_ID: `bench-${i + 1}` },
          ...(options.v8Flags === undefined ? {} : { v8Flags: options.v8Flags }),
        }));
      const proxy = await startProxy(instances.map((server) => server.port));
      return {
        name: `Parley ×${size} (Postgres)`,
        port: proxy.port,
        pids: instances.map((server) => server.pid),
        servers: instances,
        parleyPorts: instances.map((server) => server.port),
        beside: { postgres: () => postgresPids(postgres), proxy: () => Promise.resolve([proxy.pid]) },
        freshConnections: true,
        // A webhook and its socket land on different instances: two calls per instance warm both paths.
        primingCalls: CLUSTER_PRIMING_CALLS_PER_INSTANCE * size,
        unusedPrewarmsAreNotLost: true,
        stop: stopper(proxy, instances, postgres),
        stderr: () => instances.flatMap((server) => server.stderr.lines),
      } satisfies RelayUnderTest;
    } catch (error) {
      await stopper(undefined, instances, postgres)(2_000);
      throw error;
    }
  };
}

/** Asks the Postgres helper for its processes' pids (the postmaster, backends, workers). */
async function postgresPids(postgres: ServerProcess): Promise<number[]> {
  const from = postgres.stdout.lines.length;
  const line = postgres.stdout.waitFor(/^Postgres pids: /, from, 10_000);
  postgres.signal("SIGUSR1");
  return (await line).slice("Postgres pids: ".length).split(" ").map(Number);
}
