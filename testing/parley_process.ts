/**
 * `main.ts` as a subprocess with the exact flags of a deno.json task, reading an env file the test
 * writes instead of the user's `.env`; and (re-exported) what Twilio does to it over real sockets.
 *
 * @module
 */

import "./temp_root.ts";
import assert from "node:assert/strict";
import { LineReader } from "./line_reader.ts";
import { type FakeRealtimeServer, type FakeRealtimeSession, toneBytes } from "./fake_realtime.ts";
import type { FakeTwilioCall } from "./fake_twilio.ts";
import { placeTwilioCall } from "./twilio_webhook.ts";
import { within } from "./within.ts";

export { placeTwilioCall, postVoiceWebhook, type TwilioTarget } from "./twilio_webhook.ts";

/** The repository root. */
export const REPO: string = new URL("../", import.meta.url).pathname;

/**
 * The tests' own personas (`tester` answers outbound calls, `quiet` inbound ones): never the user's
 * `personas/`, which they edit and add to.
 */
export const TEST_PERSONAS_DIR = `${REPO}tests/testdata/personas`;

/** The Twilio auth token the subprocess tests give Parley: Twilio's requests are signed with it. */
export const PROCESS_AUTH_TOKEN = "process-auth-token-0123456789";
/** The API token the subprocess tests give Parley. */
export const PROCESS_API_TOKEN = "process-api-token-0123456789";
/** The public URL the subprocess tests give Parley: what Twilio's signatures are computed over. */
export const PROCESS_PUBLIC_BASE_URL = "https://parley.test";

/** What {@linkcode processEnv} needs: the fakes' and the folders' places. */
export interface ProcessEnvOptions {
  /** The fake Realtime server's URL. */
  upstreamUrl: string;
  dataDir: string;
  /** @default TEST_PERSONAS_DIR */
  personasDir?: string;
  /** @default "tester" */
  defaultPersona?: string;
  /** @default "quiet" */
  inboundPersona?: string;
}

/**
 * The env of a Parley subprocess on the fakes: any port, the process tokens, the fake upstream, its
 * own DATA_DIR and the tests' personas; `extra` adds or replaces variables.
 *
 * @example
 * ```ts
 * const parley = await spawnParley("start", processEnv({ upstreamUrl: upstream.url, dataDir }));
 * const target = { port: await listeningPort(parley), ...PROCESS_TARGET };
 * ```
 */
export function processEnv(
  options: ProcessEnvOptions,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PORT: "0",
    PUBLIC_BASE_URL: PROCESS_PUBLIC_BASE_URL,
    OPENAI_API_KEY: "sk-process-key-0123456789",
    OPENAI_REALTIME_URL: options.upstreamUrl,
    TWILIO_AUTH_TOKEN: PROCESS_AUTH_TOKEN,
    API_TOKEN: PROCESS_API_TOKEN,
    DATA_DIR: options.dataDir,
    PERSONAS_DIR: options.personasDir ?? TEST_PERSONAS_DIR,
    DEFAULT_PERSONA: options.defaultPersona ?? "tester",
    INBOUND_PERSONA: options.inboundPersona ?? "quiet",
    ...extra,
  };
}

/** What Twilio needs besides the port to sign requests for a {@linkcode processEnv} process. */
export const PROCESS_TARGET = {
  authToken: PROCESS_AUTH_TOKEN,
  publicBaseUrl: PROCESS_PUBLIC_BASE_URL,
} as const;

/**
 * A call on the {@linkcode processEnv} process at `port`, started as the `tester` persona and greeted:
 * resolves once the caller heard the greeting (`upstream`'s first session answered "Hello"). What a
 * fault test has running before it breaks something.
 */
export async function greetedProcessCall(
  port: number,
  upstream: FakeRealtimeServer,
): Promise<{ call: FakeTwilioCall; session: FakeRealtimeSession }> {
  const call = await placeTwilioCall({ port, ...PROCESS_TARGET }, { persona: "tester" });
  call.start({ persona: "tester" });
  const session = await upstream.session(0);
  await session.waitFor("response.create");
  await session.streamResponse({
    responseId: "r1",
    itemId: "i1",
    audio: toneBytes(100, 3),
    transcript: "Hello",
  });
  await within(call.waitFor("media"), "the greeting");
  return { call, session };
}

/** Options for {@linkcode taskFlags}. */
export interface TaskFlagsOptions {
  /** Replaces the task's `--env-file=.env`: the user's own `.env` must never change what the tests see. */
  envFile: string;
  /** Keep `--watch` (as `deno task dev` runs). @default false */
  keepWatch?: boolean;
}

/** The flags between `deno run` and `main.ts` in a deno.json task, its `.env` replaced by `envFile`. */
export async function taskFlags(task: string, options: TaskFlagsOptions): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${REPO}deno.json`));
  const command: string = config.tasks[task];
  const words = command.split(/\s+/);
  assert.equal(words[0], "deno");
  assert.equal(words[1], "run");
  const flags = words.slice(2, words.indexOf("main.ts"));
  assert.ok(!flags.includes("-A") && !flags.includes("--allow-all"), "no -A");
  assert.ok(!flags.some((f) => f.startsWith("--allow-run") || f.startsWith("--allow-ffi")), "no run/ffi");
  assert.ok(flags.includes("--env-file=.env"), `task ${task} reads .env`);
  return flags
    .filter((f) => options.keepWatch === true || f !== "--watch")
    .map((f) => f === "--env-file=.env" ? `--env-file=${options.envFile}` : f);
}

/** Options for {@linkcode spawnParley}. */
export interface SpawnParleyOptions {
  /** Arguments after `main.ts`. @default [] */
  args?: string[];
  /** Keep the task's `--watch`. @default false */
  keepWatch?: boolean;
  /** Folder to run in (a copy of the checkout holding `deno.json` and `main.ts`). @default REPO */
  cwd?: string;
  /** Flags added after the task's, before `main.ts` (e.g. `--preload` of a test's module). @default [] */
  extraFlags?: string[];
}

/** A running `main.ts`. */
export interface ParleyProcess {
  /** The flags it runs with, between `deno run` and `main.ts`. */
  flags: string[];
  child: Deno.ChildProcess;
  stdout: LineReader;
  stderr: LineReader;
  /** Waits for the exit and both streams, removes the env file; resolves with how it exited and stderr. */
  finished(): Promise<{ code: number; signal: Deno.Signal | null; stderr: string }>;
}

/**
 * Runs `main.ts` in the repository with a task's flags and nothing but `env`, which it reads from an
 * env file the test writes (as it would read `.env`): no variable of the shell running the tests, and
 * nothing of the user's `.env`, gets through.
 */
export async function spawnParley(
  task: string,
  env: Record<string, string>,
  options: SpawnParleyOptions = {},
): Promise<ParleyProcess> {
  const dir = await Deno.makeTempDir({ prefix: "parley-process-" });
  const envFile = `${dir}/.env`;
  await Deno.writeTextFile(
    envFile,
    Object.entries(env).map(([name, value]) => `${name}=${JSON.stringify(value)}\n`).join(""),
  );
  const flags = await taskFlags(task, {
    envFile,
    ...(options.keepWatch === undefined ? {} : { keepWatch: options.keepWatch }),
  });
  const denoDir = Deno.env.get("DENO_DIR");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, ...options.extraFlags ?? [], "main.ts", ...options.args ?? []],
    cwd: options.cwd ?? REPO,
    clearEnv: true,
    env: {
      HOME: Deno.env.get("HOME") ?? "/root",
      PATH: Deno.env.get("PATH") ?? "",
      NO_COLOR: "1",
      ...(denoDir === undefined ? {} : { DENO_DIR: denoDir }),
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new LineReader(child.stdout);
  const stderr = new LineReader(child.stderr);
  let finished: Promise<{ code: number; signal: Deno.Signal | null; stderr: string }> | undefined;
  return {
    flags,
    child,
    stdout,
    stderr,
    finished() {
      finished ??= (async () => {
        const status = await child.status;
        await Promise.all([stdout.done, stderr.done]);
        await Deno.remove(dir, { recursive: true });
        return { code: status.code, signal: status.signal, stderr: stderr.lines.join("\n") };
      })();
      return finished;
    },
  };
}

/** Resolves with the port once Parley listens; rejects with its output if it exits first. */
export async function listeningPort(parley: ParleyProcess): Promise<number> {
  const line = await Promise.race([
    parley.stdout.waitFor(/Parley listening on/),
    parley.child.status.then(() => {
      throw new Error(`Parley exited:\n${parley.stderr.lines.join("\n")}\n${parley.stdout.lines.join("\n")}`);
    }),
  ]);
  return Number(line.match(/http:\/\/(?:\[[^\]]*\]|[^\s:/]+):(\d+)/)![1]);
}

/** Kills the process if it still runs, waits for its output to end and removes its env file. */
export async function reap(parley: ParleyProcess): Promise<void> {
  try {
    parley.child.kill("SIGKILL");
  } catch { /* already exited */ }
  await parley.finished();
}
