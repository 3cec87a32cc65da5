/**
 * `deno task rehearse` spawned as a user runs it (the task's own flags, an env file the test writes),
 * against a fake Realtime server and a fake Responses API (the judge), on a DATA_DIR of its own. For
 * the tests of how a run stops and names itself; `rehearse_task_test.ts` has the reports.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FakeResponsesServer } from "../../testing/fake_responses.ts";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const KEY = "sk-test-rehearse-0123456789";

/** A rehearsal folder: its `.env`, `scenarios/` and `data/` (DATA_DIR, INSTANCE_ID=box-1). */
export interface RehearseDir {
  dir: string;
  envFile: string;
  /** DATA_DIR's call database. */
  database: string;
  realtime: FakeRealtimeServer;
  /** Spawns `deno task rehearse --dir=<scenarios> …args`, stdout and stderr piped. */
  spawn(args?: string[]): Promise<Deno.ChildProcess>;
}

/**
 * Runs `fn` with a rehearsal folder holding one scenario, `hello` (persona `tester`, `runs` runs, one
 * minute each), whose judge always passes; removes it all afterwards.
 */
export async function withRehearseDir(fn: (t: RehearseDir) => Promise<void>, runs = 1): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "parley_rehearse_cli_" });
  const realtime = FakeRealtimeServer.start();
  const responses = FakeResponsesServer.start(KEY, () => ({
    verdicts: [{ criterion: 1, pass: true, reason: "it said hello" }],
  }));
  const envFile = `${dir}/.env`;
  await Deno.mkdir(`${dir}/scenarios`);
  await Deno.writeTextFile(
    `${dir}/scenarios/hello.ts`,
    `export default {
      persona: "tester",
      caller: { instructions: "You are Sam. Say hi, then hang up." },
      expect: [{ name: "greets", judge: "the agent said hello" }],
      runs: ${runs},
      maxMinutes: 1,
    };`,
  );
  await Deno.writeTextFile(
    envFile,
    [
      `OPENAI_API_KEY=${KEY}`,
      `OPENAI_REALTIME_URL=${realtime.url}`,
      `OPENAI_BASE_URL=${responses.baseUrl}`,
      `PERSONAS_DIR=${REPO}tests/testdata/personas`,
      "DEFAULT_PERSONA=tester",
      "INBOUND_PERSONA=tester",
      `DATA_DIR=${dir}/data`,
      "INSTANCE_ID=box-1",
    ].join("\n"),
  );
  const spawn = async (args: string[] = []) =>
    (await rehearseCommand(envFile, [`--dir=${dir}/scenarios`, "--concurrency=1", ...args])).spawn();
  try {
    await fn({ dir, envFile, database: `${dir}/data/parley.db`, realtime, spawn });
  } finally {
    await responses.close();
    await realtime.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** `deno run <the rehearse task's flags, .env replaced> src/rehearse_cli.ts …args`. */
async function rehearseCommand(envFile: string, args: string[]): Promise<Deno.Command> {
  const task: string = JSON.parse(await Deno.readTextFile(`${REPO}deno.json`)).tasks.rehearse;
  const words = task.split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"]);
  const flags = words.slice(2, words.indexOf("src/rehearse_cli.ts"))
    .map((flag) => flag === "--env-file=.env" ? `--env-file=${envFile}` : flag);
  return new Deno.Command(Deno.execPath(), {
    args: [...flags, "src/rehearse_cli.ts", ...args],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "", NO_COLOR: "1" },
  });
}

/**
 * Waits for `step`, and fails at once, with what the task printed, if the task exits before it: a
 * task that cannot start never hangs the test.
 */
export async function whileTaskRuns<T>(child: Deno.ChildProcess, step: Promise<T>): Promise<T> {
  const exited = child.status.then(() => ({ exited: true }) as const);
  const outcome = await Promise.race([step.then((value) => ({ exited: false, value }) as const), exited]);
  if (outcome.exited) {
    step.catch(() => {}); // its fake upstream closes with the test: that is not the failure
    const { code, stdout, stderr } = await child.output();
    throw new Error(
      `deno task rehearse exited (${code}) before its calls:\n${text(stdout)}\n${text(stderr)}`,
    );
  }
  return outcome.value;
}

/** What a spawned task printed and how it exited. */
export async function outputOf(
  child: Deno.ChildProcess,
): Promise<{ code: number; out: string; err: string }> {
  const { code, stdout, stderr } = await child.output();
  return { code, out: text(stdout), err: text(stderr) };
}

function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}
