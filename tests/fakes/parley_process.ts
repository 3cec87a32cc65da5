/**
 * `main.ts` as a subprocess with the exact flags of a deno.json task, and what Twilio does to it
 * over real sockets: the signed voice webhook, then the signed media socket at the stream URL the
 * webhook answered.
 *
 * @module
 */

import assert from "node:assert/strict";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { FakeTwilioCall } from "./fake_twilio.ts";
import { LineReader } from "./line_reader.ts";

/** The repository root. */
export const REPO: string = new URL("../../", import.meta.url).pathname;

/** The flags between `deno run` and `main.ts` in a deno.json task (`--watch` kept only if asked). */
export async function taskFlags(task: string, options: { keepWatch?: boolean } = {}): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${REPO}deno.json`));
  const command: string = config.tasks[task];
  const words = command.split(/\s+/);
  assert.equal(words[0], "deno");
  assert.equal(words[1], "run");
  const flags = words.slice(2, words.indexOf("main.ts"));
  assert.ok(!flags.includes("-A") && !flags.includes("--allow-all"), "no -A");
  assert.ok(!flags.some((f) => f.startsWith("--allow-run") || f.startsWith("--allow-ffi")), "no run/ffi");
  return options.keepWatch === true ? flags : flags.filter((f) => f !== "--watch");
}

/** A running `main.ts`. */
export interface ParleyProcess {
  child: Deno.ChildProcess;
  stdout: LineReader;
  stderr: LineReader;
}

/** Starts `deno run <flags> main.ts <args>` in the repository with only `env` set. */
export function spawnParley(
  flags: string[],
  env: Record<string, string>,
  args: string[] = [],
): ParleyProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, "main.ts", ...args],
    cwd: REPO,
    clearEnv: true,
    env: { HOME: Deno.env.get("HOME") ?? "/root", PATH: Deno.env.get("PATH") ?? "", NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return { child, stdout: new LineReader(child.stdout), stderr: new LineReader(child.stderr) };
}

/** Resolves with the port once Parley listens; rejects with its output if it exits first. */
export async function listeningPort(parley: ParleyProcess): Promise<number> {
  const line = await Promise.race([
    parley.stdout.waitFor(/Parley listening on/),
    parley.child.status.then(() => {
      throw new Error(`Parley exited:\n${parley.stderr.lines.join("\n")}\n${parley.stdout.lines.join("\n")}`);
    }),
  ]);
  return Number(line.match(/localhost:(\d+)/)![1]);
}

/** Kills the process if it still runs and waits for its output to end. */
export async function reap(parley: ParleyProcess): Promise<Deno.CommandStatus> {
  try {
    parley.child.kill("SIGKILL");
  } catch { /* already exited */ }
  const status = await parley.child.status;
  await Promise.all([parley.stdout.done, parley.stderr.done]);
  return status;
}

/** Where a subprocess Parley is reached and how Twilio signs for it. */
export interface TwilioTarget {
  port: number;
  authToken: string;
  /** PUBLIC_BASE_URL, without trailing slash. */
  publicBaseUrl: string;
}

/** Posts the signed voice webhook for `callSid`; resolves with the status and the TwiML. */
export async function postVoiceWebhook(
  target: TwilioTarget,
  callSid: string,
): Promise<{ status: number; twiml: string }> {
  const form = { CallSid: callSid, AccountSid: "AC00000000000000000000000000000000" };
  const path = "/api/twilio/voice-realtime";
  const response = await fetch(`http://127.0.0.1:${target.port}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "X-Twilio-Signature": getExpectedTwilioSignature(
        target.authToken,
        `${target.publicBaseUrl}${path}`,
        form,
      ),
    },
    body: new URLSearchParams(form),
  });
  return { status: response.status, twiml: await response.text() };
}

/** Does what Twilio does for a new call: webhook, then the media socket at the URL it answered. */
export async function placeTwilioCall(target: TwilioTarget): Promise<FakeTwilioCall> {
  const callSid = `CA${crypto.randomUUID().replaceAll("-", "")}`;
  const { twiml } = await postVoiceWebhook(target, callSid);
  const streamUrl = twiml.match(/<Stream url="([^"]+)"/)?.[1];
  assert.ok(streamUrl !== undefined, `the webhook answered a stream: ${twiml}`);
  return await FakeTwilioCall.connect(`ws://127.0.0.1:${target.port}${new URL(streamUrl).pathname}`, {
    headers: { "X-Twilio-Signature": getExpectedTwilioSignature(target.authToken, streamUrl, {}) },
    callSid,
  });
}
