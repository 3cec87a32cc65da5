/**
 * `deno task setup-number`: points TWILIO_PHONE_NUMBER's voice webhook at this Parley
 * (`<PUBLIC_BASE_URL>/api/twilio/voice-realtime`, POST), so inbound calls reach it. Uses
 * PUBLIC_BASE_URL, or the running ngrok agent's https URL when it is unset, and prints the old and
 * the new URL. `--persona=<id>` writes the persona into the URL (else INBOUND_PERSONA answers),
 * `--dry-run` only shows the change, `--help` only prints the usage.
 *
 * @module
 */

import { ConfigError, loadConfig, type ParleyConfig } from "../config.ts";
import { type Env, readEnv } from "../config_env.ts";
import { VOICE_WEBHOOK_PATH } from "../paths.ts";
import { loadPersonas, PersonaLoadError } from "../personas/loader.ts";
import { discoverNgrokUrl } from "./ngrok.ts";
import { createTwilioRestClient, TwilioRestError } from "./rest_client.ts";

/** The settings setup-number reads. */
export type SetupNumberConfig = Pick<
  ParleyConfig,
  | "twilioAccountSid"
  | "twilioAuthToken"
  | "twilioPhoneNumber"
  | "twilioApiBaseUrl"
  | "publicBaseUrl"
  | "ngrokApiUrl"
  | "port"
  | "inboundPersona"
>;

/** Options for {@linkcode setupNumber}. */
export interface SetupNumberOptions {
  /** Parley's configuration. */
  config: SetupNumberConfig;
  /** The fetch used for Twilio and for the ngrok agent. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Receives each line of the report. */
  print: (line: string) => void;
  /** The persona to write into the webhook URL (already checked); else INBOUND_PERSONA answers. */
  persona?: string;
  /** Show the old and new URL without changing anything. @default false */
  dryRun?: boolean;
}

/** What the command line asked for. */
export interface SetupNumberArgs {
  help: boolean;
  dryRun: boolean;
  persona: string | undefined;
}

/** `deno task setup-number --help`. */
export const SETUP_NUMBER_USAGE = `Usage: deno task setup-number [--persona=<id>] [--dry-run]

Points TWILIO_PHONE_NUMBER's voice webhook at this Parley (HTTP POST to
<PUBLIC_BASE_URL, or the running ngrok tunnel>${VOICE_WEBHOOK_PATH}), so calls to the number reach it.

  --persona=<id>  the persona that answers calls to the number (a file in PERSONAS_DIR);
                  without it, INBOUND_PERSONA answers (receptionist unless set)
  --dry-run       show the current and the new webhook URL; change nothing
  --help, -h      show this help; change nothing`;

/**
 * Parses setup-number's arguments.
 *
 * @example
 * ```ts
 * parseSetupNumberArgs(["--persona=alex", "--dry-run"]); // { help: false, dryRun: true, persona: "alex" }
 * ```
 * @throws {SetupNumberError} for an unknown argument or a `--persona` without a value.
 */
export function parseSetupNumberArgs(args: readonly string[]): SetupNumberArgs {
  const parsed: SetupNumberArgs = { help: false, dryRun: false, persona: undefined };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--help" || arg === "-h") parsed.help = true;
    else if (arg === "--dry-run") parsed.dryRun = true;
    else if (arg === "--persona" || arg.startsWith("--persona=")) {
      const value = arg === "--persona" ? args[++i] : arg.slice("--persona=".length);
      if (value === undefined || value === "" || value.startsWith("-")) {
        throw new SetupNumberError("Argument --persona: no persona id given: use --persona=<id>");
      }
      parsed.persona = value;
    } else {
      throw new SetupNumberError(
        `Unknown argument "${arg}": nothing was changed; use --persona=<id>, --dry-run or --help`,
      );
    }
  }
  return parsed;
}

/** What {@linkcode setupNumber} did. */
export interface SetupNumberResult {
  /** The number's SID (`PN…`). */
  sid: string;
  /** Voice URL before, `""` when none was set. */
  oldUrl: string;
  /** Voice URL now. */
  newUrl: string;
  /** False when the number already pointed at `newUrl` with POST. */
  changed: boolean;
}

/** A problem the user must fix before the number can be set up; the message says how. */
export class SetupNumberError extends Error {
  /** Builds the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SetupNumberError";
  }
}

/**
 * Finds TWILIO_PHONE_NUMBER on the account and sets its voice webhook to Parley's, with POST.
 *
 * @example
 * ```ts
 * const result = await setupNumber({ config, print: console.log });
 * ```
 * @throws {SetupNumberError} when settings are missing, the number is not on the account, or
 * Twilio refuses.
 */
export async function setupNumber(options: SetupNumberOptions): Promise<SetupNumberResult> {
  const { config, print } = options;
  const fetchOption = options.fetch === undefined ? {} : { fetch: options.fetch };

  requireTwilioSettings(config);
  const accountSid = config.twilioAccountSid!;
  const phoneNumber = config.twilioPhoneNumber!;

  const publicBaseUrl = await publicBaseUrlOf(options);
  const query = options.persona === undefined ? "" : `?${new URLSearchParams({ persona: options.persona })}`;
  const newUrl = `${publicBaseUrl}${VOICE_WEBHOOK_PATH}${query}`;
  const answeredBy = options.persona === undefined
    ? `Calls to ${phoneNumber} will be answered by ${config.inboundPersona} (INBOUND_PERSONA)`
    : `Calls to ${phoneNumber} will be answered by ${options.persona} (--persona)`;

  const client = createTwilioRestClient({
    accountSid,
    authToken: config.twilioAuthToken!,
    baseUrl: config.twilioApiBaseUrl,
    ...fetchOption,
  });
  try {
    const number = await client.findIncomingNumber(phoneNumber);
    if (number === undefined) {
      throw new SetupNumberError(
        `TWILIO_PHONE_NUMBER "${phoneNumber}" is not a number on account ${accountSid}: buy it or fix ` +
          "TWILIO_PHONE_NUMBER (Twilio console → Phone Numbers → Active numbers)",
      );
    }
    const oldUrl = number.voiceUrl;
    const old = oldUrl === "" ? "(none)" : `${oldUrl} (${number.voiceMethod || "POST"})`;
    if (oldUrl === newUrl && number.voiceMethod.toUpperCase() === "POST") {
      print(`${phoneNumber} (${number.sid}) already sends calls to ${newUrl} (POST): nothing to change`);
      print(answeredBy);
      return { sid: number.sid, oldUrl, newUrl, changed: false };
    }
    if (options.dryRun === true) {
      print(`Dry run: would update ${phoneNumber} (${number.sid}) voice webhook:`);
      print(`  old: ${old}`);
      print(`  new: ${newUrl} (POST)`);
      print("Nothing was changed (--dry-run).");
      return { sid: number.sid, oldUrl, newUrl, changed: false };
    }
    const updated = await client.updateIncomingNumberVoiceUrl(number.sid, newUrl);
    print(`Updated ${phoneNumber} (${number.sid}) voice webhook:`);
    print(`  old: ${old}`);
    print(`  new: ${updated.voiceUrl || newUrl} (POST)`);
    print(answeredBy);
    return { sid: number.sid, oldUrl, newUrl, changed: true };
  } catch (error) {
    if (!(error instanceof TwilioRestError)) throw error;
    throw new SetupNumberError(describeRestError(error), { cause: error });
  }
}

/** @throws {SetupNumberError} naming the Twilio settings that are not set. */
function requireTwilioSettings(config: SetupNumberOptions["config"]): void {
  const missing: string[] = [];
  if (config.twilioAccountSid === undefined) missing.push("TWILIO_ACCOUNT_SID");
  if (config.twilioAuthToken === undefined) missing.push("TWILIO_AUTH_TOKEN");
  if (config.twilioPhoneNumber === undefined) missing.push("TWILIO_PHONE_NUMBER");
  if (missing.length > 0) {
    throw new SetupNumberError(
      `Cannot set up the number: ${
        missing.join(", ")
      } not set: put them in .env (Twilio console → Account info, ` +
        "Phone Numbers → Active numbers)",
    );
  }
}

/**
 * PUBLIC_BASE_URL, else the local ngrok tunnel's (said so).
 *
 * @throws {SetupNumberError} when there is neither.
 */
async function publicBaseUrlOf(options: SetupNumberOptions): Promise<string> {
  const { config, print } = options;
  if (config.publicBaseUrl !== undefined) return config.publicBaseUrl;
  const fetchOption = options.fetch === undefined ? {} : { fetch: options.fetch };
  const publicBaseUrl = await discoverNgrokUrl(config.ngrokApiUrl, { port: config.port, ...fetchOption });
  if (publicBaseUrl === undefined) {
    throw new SetupNumberError(
      `Cannot set up the number: PUBLIC_BASE_URL is not set and no ngrok agent answers at ${config.ngrokApiUrl}: ` +
        `start ngrok (ngrok http ${config.port}) or set PUBLIC_BASE_URL to the https URL Twilio can reach`,
    );
  }
  print(`Using the ngrok tunnel ${publicBaseUrl} (PUBLIC_BASE_URL is not set)`);
  return publicBaseUrl;
}

function describeRestError(error: TwilioRestError): string {
  if (error.status === undefined) return `${error.message}: check your network or TWILIO_API_BASE_URL`;
  const code = error.code === undefined ? "" : ` (code ${error.code})`;
  if (error.status === 401 || error.code === 20003) {
    return `Twilio refused the credentials${code}: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN`;
  }
  return `Twilio refused${code}: ${error.message}`;
}

/** OPENAI_API_KEY is required by `loadConfig` but not used here: a stand-in keeps it (and its placeholder) quiet. */
function setupEnv(env: Env): Env {
  return { ...env, OPENAI_API_KEY: "unused-by-setup-number" };
}

/** The persona `--persona` names, checked against the personas in PERSONAS_DIR. */
async function checkPersona(id: string, personasDir: string, defaultModel: string): Promise<string> {
  let ids: string[];
  try {
    ids = [...(await loadPersonas(personasDir, { defaultModel })).keys()].sort();
  } catch (error) {
    if (!(error instanceof PersonaLoadError)) throw error;
    throw new SetupNumberError(`Cannot check --persona "${id}": nothing was changed: ${error.message}`);
  }
  if (!ids.includes(id)) {
    throw new SetupNumberError(
      `Argument --persona: "${id}" names no persona in ${personasDir}: nothing was changed; use one of ${
        ids.join(", ")
      }`,
    );
  }
  return id;
}

if (import.meta.main) {
  try {
    const args = parseSetupNumberArgs(Deno.args);
    if (args.help) {
      console.log(SETUP_NUMBER_USAGE);
      Deno.exit(0);
    }
    const config = loadConfig(setupEnv(readEnv()));
    const persona = args.persona === undefined
      ? undefined
      : await checkPersona(args.persona, config.personasDir, config.realtimeModel);
    await setupNumber({
      config,
      print: (line) => console.log(line),
      dryRun: args.dryRun,
      ...(persona === undefined ? {} : { persona }),
    });
  } catch (error) {
    // Known problems print their message (it says the fix); anything else prints its stack.
    const known = error instanceof SetupNumberError || error instanceof ConfigError;
    console.error(known ? error.message : error);
    Deno.exit(1);
  }
}
