/**
 * The cluster bench's Postgres (`--cluster=N`): a throwaway server from Debian's programs
 * (`testing/postgres.ts`) in a subprocess of its own, since starting one takes permissions the bench
 * does not hold (running `initdb` and `pg_ctl`, a temporary folder outside the checkout).
 *
 * Prints `Postgres listening on port <port>: <database URL>` once a fresh database is ready, or
 * `Postgres is not installed: …` and exits 3 (with `--check`, it
 * only says whether it is installed). On SIGUSR1 it prints `Postgres pids: <pid> …` (the
 * postmaster and every process `pg_stat_activity` lists: backends and background workers), so the
 * bench can read their CPU time. SIGTERM stops the server and removes its folder.
 *
 * @module
 */

import postgres from "postgres";
import { findPostgresBin, startThrowawayPostgres } from "../testing/postgres.ts";

if (findPostgresBin() === undefined) {
  console.log("Postgres is not installed: no initdb under /usr/lib/postgresql (apt-get install postgresql)");
  Deno.exit(3);
}
// `--check`: only whether Postgres is installed (exit 0) or not (3, with the line above).
if (Deno.args.includes("--check")) Deno.exit(0);
const server = await startThrowawayPostgres();
const url = await server.createDatabase("parley_bench");
const sql = postgres(server.url, { max: 1, onnotice: () => {} });
const [self] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
const postmaster = await parentOf(self!.pid);

/** The parent of process `pid` (a backend's is the postmaster). */
async function parentOf(pid: number): Promise<number> {
  const output = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`], stdout: "piped" }).output();
  const line = new TextDecoder().decode(output.stdout);
  return Number(line.slice(line.lastIndexOf(")") + 2).split(" ")[1]);
}

let stopping: Promise<void> | undefined;
const stop = () => {
  stopping ??= (async () => {
    await sql.end();
    await server.stop();
    Deno.exit(0);
  })();
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGUSR1", async () => {
  const rows = await sql<{ pid: number }[]>`select pid from pg_stat_activity`;
  console.log(`Postgres pids: ${[postmaster, ...rows.map((row) => row.pid)].join(" ")}`);
});
console.log(`Postgres listening on port ${new URL(server.url).port}: ${url}`);
