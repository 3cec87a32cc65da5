/**
 * A throwaway Postgres for tests: {@linkcode startThrowawayPostgres} runs Debian's `initdb` and
 * `postgres` (found under `/usr/lib/postgresql/<version>/bin`) in a temporary folder (on /dev/shm when
 * there is one, see {@linkcode serverFolder}), listening on 127.0.0.1 at a free port with its socket
 * in that folder, and its `stop()` ends the server and removes the folder. `initdb` refuses to run as
 * root: as root, the folder is handed to the `postgres` OS user and both programs run as that user
 * (`runuser`).
 *
 * `initdb` runs once per machine, not per server: its cluster is kept as a template folder there
 * (named after the Postgres version, the OS user and `initdb`'s options) and each server starts on a copy
 * of it (about 0.43 core-seconds a start and stop instead of 0.70 when measured on ext4, less on tmpfs),
 * which counts on a 2-core machine whose test suite is bound by its CPU. The template is made in a
 * folder of its own and renamed into place, so a concurrent start never sees half of one.
 *
 * With `PARLEY_TEST_DATABASE_URL` set, that server is used instead (nothing is started); each
 * {@linkcode ThrowawayPostgres.createDatabase} makes a fresh database on it all the same.
 *
 * @module
 */

import postgres from "postgres";
import { releasePort, unsharedPort } from "./unshared_port.ts";

/** A running test server. */
export interface ThrowawayPostgres {
  /** The maintenance database's URL (`postgres://postgres@127.0.0.1:<port>/postgres`). */
  readonly url: string;
  /** Creates a fresh, empty database and returns its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /**
   * Stops the server and removes its folder, if started here; on PARLEY_TEST_DATABASE_URL's server,
   * drops the databases made here instead.
   */
  stop(): Promise<void>;
  /**
   * Stops the server (`pg_ctl stop -m fast`: sessions are cut), runs `whileDown`, and starts it again
   * on the same port and data. Only on a server started here (not PARLEY_TEST_DATABASE_URL's).
   */
  restart?(whileDown: () => Promise<void>): Promise<void>;
}

/** The folder holding Debian's Postgres programs (the newest version), or undefined when none is installed. */
export function findPostgresBin(): string | undefined {
  let versions: string[];
  try {
    versions = [...Deno.readDirSync("/usr/lib/postgresql")].map((entry) => entry.name);
  } catch {
    return undefined;
  }
  versions.sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = `/usr/lib/postgresql/${version}/bin`;
    try {
      Deno.statSync(`${bin}/initdb`);
      return bin;
    } catch { /* try the next */ }
  }
  return undefined;
}

/** True when a test can have a Postgres: a URL in PARLEY_TEST_DATABASE_URL, or Debian's programs. */
export function postgresAvailable(): boolean {
  return (Deno.env.get("PARLEY_TEST_DATABASE_URL") ?? "") !== "" || findPostgresBin() !== undefined;
}

/**
 * Starts a server (or adopts PARLEY_TEST_DATABASE_URL's).
 *
 * @example
 * ```ts
 * const pg = await startThrowawayPostgres();
 * const url = await pg.createDatabase();
 * // … tests against url …
 * await pg.stop();
 * ```
 * @throws {Error} when no Postgres is installed, or it does not start (its log is in the message).
 */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const given = Deno.env.get("PARLEY_TEST_DATABASE_URL");
  if (given !== undefined && given !== "") return adopt(given, undefined);
  const bin = findPostgresBin();
  if (bin === undefined) {
    throw new Error(
      "No Postgres under /usr/lib/postgresql: apt-get install -y postgresql (or set PARLEY_TEST_DATABASE_URL)",
    );
  }
  const asRoot = Deno.uid() === 0;
  const dir = await Deno.makeTempDir({ prefix: "parley_pg_", dir: serverFolder() });
  const data = `${dir}/data`;
  const log = `${dir}/server.log`;
  // As root, initdb and postgres run as the postgres OS user, owning the folder.
  const run = (program: string, args: string[]) =>
    (asRoot
      ? new Deno.Command("runuser", { args: ["-u", "postgres", "--", `${bin}/${program}`, ...args] })
      : new Deno.Command(`${bin}/${program}`, { args })).output();
  const stopServer = async () => {
    await run("pg_ctl", ["stop", "-D", data, "-m", "immediate", "-s"]);
  };
  try {
    if (asRoot) {
      const chown = await new Deno.Command("chown", { args: ["postgres:", dir] }).output();
      if (!chown.success) throw new Error(`chown postgres ${dir} failed: ${decode(chown.stderr)}`);
    }
    const template = await initdbTemplate(bin, run);
    const copy = await new Deno.Command("cp", { args: ["-a", template, data] }).output();
    if (!copy.success) throw new Error(`cp -a ${template} ${data} failed: ${decode(copy.stderr)}`);
    let port = 0;
    // Durability off: a test database is thrown away. The socket lives in the temp folder.
    const options = () =>
      [
        `-p ${port}`,
        "-h 127.0.0.1",
        `-k ${dir}`,
        "-c fsync=off",
        "-c synchronous_commit=off",
        "-c full_page_writes=off",
        "-c max_connections=200",
      ].join(" ");
    const startServer = () =>
      run("pg_ctl", ["start", "-D", data, "-l", log, "-w", "-t", "60", "-s", "-o", options()]);
    // The port was free when picked and is reserved from other tests' picks, but a test binding a port
    // of its own choosing may still take it first (unlikely, not impossible): then the server starts on
    // another.
    for (let attempt = 1;; attempt++) {
      // Reserved until the server is stopped for good: a restart listens on it again.
      port = unsharedPort();
      const started = await startServer();
      if (started.success) break;
      releasePort(port);
      const text = await Deno.readTextFile(log).catch(() => "");
      if (attempt < 3 && /could not bind .*Address already in use/.test(text)) {
        await Deno.writeTextFile(log, "");
        continue;
      }
      throw new Error(`postgres did not start: ${decode(started.stderr)} ${text.trim().slice(-2000)}`);
    }
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    return adopt(url, async () => {
      await stopServer();
      releasePort(port);
      await Deno.remove(dir, { recursive: true });
    }, async (whileDown) => {
      const stopped = await run("pg_ctl", ["stop", "-D", data, "-m", "fast", "-w", "-s"]);
      if (!stopped.success) throw new Error(`pg_ctl stop failed: ${decode(stopped.stderr)}`);
      // Started again whatever `whileDown` did: its failure is the one reported.
      const outcome = await whileDown().then(() => undefined, (error: unknown) => ({ error }));
      const again = await startServer();
      if (outcome !== undefined) throw outcome.error;
      if (!again.success) {
        const text = await Deno.readTextFile(log).catch(() => "");
        throw new Error(`postgres did not start again: ${decode(again.stderr)} ${text.trim().slice(-2000)}`);
      }
    });
  } catch (error) {
    await stopServer().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

/**
 * Where servers and the template live: /dev/shm when it is a folder anyone may write (a tmpfs on
 * Linux), else /tmp. On a 2-core VM's ext4, copying the 39 MB template cost 0.42 core-seconds and
 * removing it 0.5; on tmpfs 0.05 and 0.01, for each of the suite's servers. A test database is thrown
 * away, so memory is where it belongs. /tmp, not TMPDIR: as root, the postgres user must reach it.
 */
function serverFolder(): string {
  try {
    const shm = Deno.statSync("/dev/shm");
    // Sticky and writable by all, like /tmp: the postgres OS user can make its folder there.
    if (shm.isDirectory && shm.mode !== null && (shm.mode & 0o1777) === 0o1777) return "/dev/shm";
  } catch { /* not Linux, or no /dev/shm */ }
  return "/tmp";
}

/** `initdb`'s options: the cluster every test server starts from. */
const INITDB_OPTIONS = ["-U", "postgres", "--auth=trust", "--no-sync", "--encoding=UTF8", "--no-locale"];

/**
 * The folder of a fresh cluster made by `bin`'s `initdb` (run through `run`), made on first use and
 * kept under /tmp: its name carries the version, the OS user and the options, so a change of any makes
 * a new one. Made aside and renamed into place: whoever renames first wins, the others' copies go.
 */
async function initdbTemplate(
  bin: string,
  run: (program: string, args: string[]) => Promise<Deno.CommandOutput>,
): Promise<string> {
  const version = bin.split("/").at(-2);
  const key = INITDB_OPTIONS.join(" ").replace(/[^a-zA-Z0-9]+/g, "_");
  const template = `${serverFolder()}/parley_pg_template_${version}_uid${Deno.uid()}_${key}`;
  try {
    await Deno.stat(`${template}/PG_VERSION`);
    return template;
  } catch { /* not made yet */ }
  const asRoot = Deno.uid() === 0;
  const aside = await Deno.makeTempDir({ prefix: "parley_pg_template_", dir: serverFolder() });
  try {
    if (asRoot) {
      const chown = await new Deno.Command("chown", { args: ["postgres:", aside] }).output();
      if (!chown.success) throw new Error(`chown postgres ${aside} failed: ${decode(chown.stderr)}`);
    }
    const init = await run("initdb", ["-D", `${aside}/data`, ...INITDB_OPTIONS]);
    if (!init.success) throw new Error(`initdb failed: ${decode(init.stderr)}`);
    await Deno.rename(`${aside}/data`, template).catch(async (error) => {
      // Another start renamed its own first: use that one.
      if (!await Deno.stat(`${template}/PG_VERSION`).then(() => true, () => false)) throw error;
    });
  } finally {
    await Deno.remove(aside, { recursive: true }).catch(() => {});
  }
  return template;
}

/**
 * The handle of a server at `url`: one started here has a `shutdown` (which throws its data away, so
 * its databases need no dropping: a server that did not come back from a restart is still stopped
 * and removed, and the test's own failure is the one reported); one adopted has none, and its
 * databases made here are dropped.
 */
function adopt(
  url: string,
  shutdown: (() => Promise<void>) | undefined,
  restart?: (whileDown: () => Promise<void>) => Promise<void>,
): ThrowawayPostgres {
  const made: string[] = [];
  let counter = 0;
  const admin = () => postgres(url, { max: 1, onnotice: () => {} });
  return {
    url,
    async createDatabase(prefix = "parley_test") {
      const name = `${prefix}_${Deno.pid}_${++counter}_${crypto.randomUUID().slice(0, 8)}`.replace(
        /[^a-z0-9_]/g,
        "_",
      );
      const sql = admin();
      try {
        // FILE_COPY: a checkpoint and a copy of the small template (no WAL with fsync off), 200 ms
        // against WAL_LOG's 270 on a 2-core VM, for every database a test makes.
        await sql.unsafe(`CREATE DATABASE "${name}" STRATEGY = FILE_COPY`);
      } finally {
        await sql.end();
      }
      made.push(name);
      const target = new URL(url);
      target.pathname = `/${name}`;
      return target.toString();
    },
    ...(restart === undefined ? {} : { restart }),
    async stop() {
      if (shutdown !== undefined) return await shutdown();
      if (made.length > 0) {
        const sql = admin();
        try {
          for (const name of made) await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        } finally {
          await sql.end();
        }
      }
    },
  };
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes).trim();
}
