/**
 * What Twilio does over HTTP to start a call's Media Stream, against a Parley at a port (in-process
 * or a subprocess): post the signed voice webhook, then open the signed media socket at the per-call
 * stream URL its TwiML names. Shared by the harness, the subprocess tests and the bench.
 *
 * @module
 */

import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { VOICE_WEBHOOK_PATH } from "../src/paths.ts";
import { FakeTwilioCall } from "./fake_twilio.ts";

/** Where a Parley is reached and how Twilio signs for it. */
export interface TwilioTarget {
  /** @default "127.0.0.1" */
  hostname?: string;
  port: number;
  authToken: string;
  /** PUBLIC_BASE_URL, without trailing slash. */
  publicBaseUrl: string;
}

/** A random CallSid in Twilio's format. */
export function newCallSid(): string {
  return `CA${crypto.randomUUID().replaceAll("-", "")}`;
}

/** The voice webhook's answer: its status, the TwiML, and the stream URL it names (if any). */
export interface WebhookAnswer {
  status: number;
  twiml: string;
  streamUrl: string | undefined;
}

/**
 * Posts the signed voice webhook (at `path`) for `callSid`, as Twilio does when the call connects;
 * through `client` when given (e.g. one that keeps no connection, so a balancer sees every request).
 */
export async function postVoiceWebhook(
  target: TwilioTarget,
  callSid: string,
  path: string = VOICE_WEBHOOK_PATH,
  client?: Deno.HttpClient,
): Promise<WebhookAnswer> {
  const form = { CallSid: callSid, AccountSid: "AC00000000000000000000000000000000" };
  const response = await fetch(`http://${target.hostname ?? "127.0.0.1"}:${target.port}${path}`, {
    ...(client === undefined ? {} : { client }),
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
  const twiml = await response.text();
  return { status: response.status, twiml, streamUrl: twiml.match(/<Stream url="([^"]+)"/)?.[1] };
}

/** The `X-Twilio-Signature` Twilio sends when it opens the media socket at `streamUrl`. */
export function streamSignature(target: TwilioTarget, streamUrl: string): string {
  return getExpectedTwilioSignature(target.authToken, streamUrl, {});
}

/** Opens the media socket at a `wss://<public host>/…` stream URL, signed as Twilio would. */
export async function connectStream(
  target: TwilioTarget,
  streamUrl: string,
  callSid?: string,
): Promise<FakeTwilioCall> {
  const path = new URL(streamUrl).pathname;
  return await FakeTwilioCall.connect(`ws://${target.hostname ?? "127.0.0.1"}:${target.port}${path}`, {
    headers: { "X-Twilio-Signature": streamSignature(target, streamUrl) },
    ...(callSid === undefined ? {} : { callSid }),
  });
}

/**
 * Does what Twilio does for a new call: the webhook (its URL carrying `parameters`, as /api/calls
 * writes it), then the media socket at the URL it answered.
 */
export async function placeTwilioCall(
  target: TwilioTarget,
  parameters: Record<string, string> = {},
): Promise<FakeTwilioCall> {
  const callSid = newCallSid();
  const query = new URLSearchParams(parameters).toString();
  const path = query === "" ? VOICE_WEBHOOK_PATH : `${VOICE_WEBHOOK_PATH}?${query}`;
  const { status, twiml, streamUrl } = await postVoiceWebhook(target, callSid, path);
  if (streamUrl === undefined) throw new Error(`The voice webhook answered no stream (${status}): ${twiml}`);
  return await connectStream(target, streamUrl, callSid);
}
