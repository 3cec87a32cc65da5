/**
 * Placing an outbound call through Twilio's REST API: one service for `POST /api/calls` and the
 * campaign dialer. The call's persona, voice and parameters travel to the voice webhook in its URL;
 * the `call.placed` event tells admission (which then holds a slot for it) and the records.
 *
 * @module
 */

import { STATUS_CALLBACK_PATH, VOICE_WEBHOOK_PATH } from "../paths.ts";
import type { CallHub } from "./call_hub.ts";
import type { ParleyConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import {
  createTwilioRestClient,
  type ListedCall,
  type MachineDetection,
  type TwilioRestClient,
} from "../twilio/rest_client.ts";

/** The settings placing a call reads; read on every call. */
export type OutboundCallConfig = Pick<
  ParleyConfig,
  "twilioAccountSid" | "twilioAuthToken" | "twilioPhoneNumber" | "twilioApiBaseUrl" | "publicBaseUrl"
>;

/** One call to place. */
export interface OutboundCall {
  /** E.164. */
  to: string;
  persona: string;
  voice: string | undefined;
  parameters: Record<string, string>;
  machineDetection: MachineDetection | undefined;
  /**
   * Added to the status callback URL's query (Twilio signs the URL with it and posts every status
   * there), e.g. the campaign attempt the call belongs to.
   */
  statusCallbackQuery?: Record<string, string>;
}

/** Places a call; resolves to its CallSid. Rejects with a `TwilioRestError` when Twilio refuses or cannot be reached. */
export type PlaceOutboundCall = (call: OutboundCall) => Promise<string>;

/** Options of {@linkcode createOutboundCalls}. */
export interface OutboundCallsOptions {
  config: OutboundCallConfig;
  hub: CallHub;
  log: Logger;
  /** The fetch the REST client uses. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Clock for event timestamps. @default Date.now */
  now?: () => number;
}

/** The settings missing for outbound calls (TWILIO_* and PUBLIC_BASE_URL), empty when none is. */
export function missingOutboundSettings(config: OutboundCallConfig): string[] {
  const missing: string[] = [];
  if (config.twilioAccountSid === undefined) missing.push("TWILIO_ACCOUNT_SID");
  if (config.twilioAuthToken === undefined) missing.push("TWILIO_AUTH_TOKEN");
  if (config.twilioPhoneNumber === undefined) missing.push("TWILIO_PHONE_NUMBER");
  if (config.publicBaseUrl === undefined) missing.push("PUBLIC_BASE_URL");
  return missing;
}

/**
 * Builds the service. Check {@linkcode missingOutboundSettings} first: placing a call without them throws.
 *
 * @example
 * ```ts
 * const place = createOutboundCalls({ config, hub, log });
 * const callSid = await place({ to: "+14155550100", persona: "alex", voice: undefined, parameters: {}, machineDetection: undefined });
 * ```
 */
export function createOutboundCalls(options: OutboundCallsOptions): PlaceOutboundCall {
  const { config, hub, log } = options;
  const now = options.now ?? Date.now;
  return async ({ to, persona, voice, parameters, machineDetection, statusCallbackQuery }) => {
    const missing = missingOutboundSettings(config);
    if (missing.length > 0) {
      throw new Error(`Outbound calls are not configured: set ${missing.join(", ")} in .env`);
    }
    const publicBaseUrl = config.publicBaseUrl!;
    const from = config.twilioPhoneNumber!;
    const query = new URLSearchParams({ persona, ...(voice === undefined ? {} : { voice }) });
    for (const [name, value] of Object.entries(parameters)) query.append(name, value);
    const callbackQuery = new URLSearchParams(statusCallbackQuery ?? {}).toString();
    const statusCallback = `${publicBaseUrl}${STATUS_CALLBACK_PATH}${
      callbackQuery === "" ? "" : `?${callbackQuery}`
    }`;
    const client = createTwilioRestClient({
      accountSid: config.twilioAccountSid!,
      authToken: config.twilioAuthToken!,
      baseUrl: config.twilioApiBaseUrl,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
    const call = await client.createCall({
      to,
      from,
      url: `${publicBaseUrl}${VOICE_WEBHOOK_PATH}?${query}`,
      statusCallback,
      statusCallbackEvent: ["initiated", "ringing", "answered", "completed"],
      ...(machineDetection === undefined
        ? {}
        : { machineDetection, asyncAmd: true, asyncAmdStatusCallback: statusCallback }),
    });
    log.info(`Outbound call placed: CallSid=${call.sid} persona=${persona} to=${maskNumber(to)}`);
    hub.emit({
      type: "call.placed",
      at: now(),
      callSid: call.sid,
      persona,
      from,
      to,
      parameters: voice === undefined ? parameters : { ...parameters, voice },
    });
    return call.sid;
  };
}

/**
 * The calls Twilio has to `to` that started at or after `startedAfter` (epoch ms), and those still
 * `queued` or `ringing` (a queued call has no start time, so the time filter alone misses it).
 */
export type FindCalls = (to: string, startedAfter: number) => Promise<ListedCall[]>;

/**
 * Builds the look-up the dialer uses before dialling a lead whose last request's answer it never got
 * (a timeout, a crash) to learn whether that call was placed: three list requests (`StartTime>`,
 * `Status=queued`, `Status=ringing`), merged by CallSid. Rejects (a `TwilioRestError`, or an `Error`
 * when TWILIO_* are unset) when Twilio cannot say.
 */
export function createCallFinder(options: Pick<OutboundCallsOptions, "config" | "fetch">): FindCalls {
  return async (to, startedAfter) => {
    const client = accountClient(options);
    const lists = await Promise.all([
      client.listCalls({ to, startedAfter }),
      client.listCalls({ to, status: "queued" }),
      client.listCalls({ to, status: "ringing" }),
    ]);
    const bySid = new Map(lists.flat().map((call) => [call.sid, call]));
    return [...bySid.values()];
  };
}

/**
 * Builds the status look-up of the calls a start took up (`taken_up_status.ts`): `GET Calls/{Sid}.json`,
 * the status Twilio has now, undefined when it has no such call. Rejects when Twilio cannot say.
 */
export function createCallStatusReader(
  options: Pick<OutboundCallsOptions, "config" | "fetch">,
): (callSid: string) => Promise<string | undefined> {
  return async (callSid) => (await accountClient(options).getCall(callSid))?.status;
}

/** The REST client of the account in TWILIO_*; throws when those are unset (the look-ups' callers log it). */
function accountClient(options: Pick<OutboundCallsOptions, "config" | "fetch">): TwilioRestClient {
  const { config } = options;
  if (config.twilioAccountSid === undefined || config.twilioAuthToken === undefined) {
    throw new Error("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set");
  }
  return createTwilioRestClient({
    accountSid: config.twilioAccountSid,
    authToken: config.twilioAuthToken,
    baseUrl: config.twilioApiBaseUrl,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
}

/** Keeps logs useful without printing whole phone numbers: `+1415•••0100`. */
export function maskNumber(number: string): string {
  return number.length <= 8 ? number : `${number.slice(0, 5)}•••${number.slice(-4)}`;
}
