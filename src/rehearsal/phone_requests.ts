/**
 * The virtual phone's HTTP side, signed as Twilio signs (`X-Twilio-Signature` over the public URL and
 * the form): the voice webhook, the media socket's upgrade, the answering-machine detection callback and
 * the `<Connect action>` request.
 *
 * @module
 */

import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { STATUS_CALLBACK_PATH, VOICE_WEBHOOK_PATH } from "../paths.ts";
import { type ConnectInstructions, readConnectTwiml } from "./twiml_reader.ts";
import { errorText } from "../log.ts";

/** A Parley to call, and how Twilio would sign for it. */
export interface ParleyTarget {
  /** Where Parley listens, e.g. `http://127.0.0.1:3000`. */
  origin: string;
  /** Its PUBLIC_BASE_URL: what Twilio signs (the socket is signed as `wss://<its host>/…`). */
  publicBaseUrl: string;
  /** Its TWILIO_AUTH_TOKEN. */
  authToken: string;
  /** Its API_TOKEN, to read call records (bearer). */
  apiToken?: string | undefined;
}

/** The headers that read the target's API with its API_TOKEN (none when it has none). */
export function apiHeaders(target: ParleyTarget): Record<string, string> {
  return target.apiToken === undefined ? {} : { authorization: `Bearer ${target.apiToken}` };
}

/** The account every virtual call is placed from (Twilio's test credentials' shape). */
const ACCOUNT_SID = "AC00000000000000000000000000000000";

/**
 * Posts the voice webhook for `callSid` with `query` in its URL, as Twilio does when a call comes
 * in; returns what its TwiML asks.
 *
 * @throws {Error} when it answers no stream, quoting the answer.
 */
export async function postVoiceWebhook(
  target: ParleyTarget,
  callSid: string,
  query: URLSearchParams,
  from: string,
): Promise<ConnectInstructions & { streamUrl: string }> {
  const path = `${VOICE_WEBHOOK_PATH}?${query}`;
  const form = {
    CallSid: callSid,
    AccountSid: ACCOUNT_SID,
    From: from,
    To: "+15005550006",
    Direction: "inbound",
    CallStatus: "ringing",
  };
  const response = await signedPost(target, `${target.publicBaseUrl}${path}`, form);
  const twiml = await response.text();
  const connect = readConnectTwiml(twiml);
  if (!response.ok || connect.streamUrl === undefined) {
    throw new Error(
      `Parley's voice webhook answered ${response.status} without a stream: ${twiml.slice(0, 300)}`,
    );
  }
  return { ...connect, streamUrl: connect.streamUrl };
}

/** Opens the media socket at the `wss://<public host>/…` stream URL, on `target`'s own address. */
export async function openMediaSocket(target: ParleyTarget, streamUrl: string): Promise<WebSocket> {
  const socketUrl = new URL(new URL(streamUrl).pathname, target.origin);
  socketUrl.protocol = socketUrl.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(socketUrl, {
    headers: { "X-Twilio-Signature": getExpectedTwilioSignature(target.authToken, streamUrl, {}) },
  });
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = (event) =>
      reject(new Error(`Cannot open Parley's media socket: ${(event as ErrorEvent).message}`));
  });
  socket.onerror = () => {};
  return socket;
}

/**
 * Posts the asynchronous answering-machine detection result for `callSid`, as Twilio posts it to
 * `asyncAmdStatusCallback` (Parley's status callback URL): `CallSid`, `AccountSid`, `AnsweredBy` and
 * `MachineDetectionDuration` (ms), signed. Resolves with "sent", or why Parley did not take it.
 */
export async function postAmdCallback(
  target: ParleyTarget,
  callSid: string,
  answeredBy: string,
  detectionMs: number,
): Promise<string> {
  const form = {
    CallSid: callSid,
    AccountSid: ACCOUNT_SID,
    AnsweredBy: answeredBy,
    MachineDetectionDuration: String(Math.max(0, Math.round(detectionMs))),
  };
  try {
    const response = await signedPost(target, `${target.publicBaseUrl}${STATUS_CALLBACK_PATH}`, form);
    const body = await response.text();
    return response.ok
      ? "sent"
      : `Parley answered the AnsweredBy=${answeredBy} callback with ${response.status}: ${
        body.slice(0, 200)
      }`;
  } catch (error) {
    return `cannot post the AnsweredBy=${answeredBy} callback: ${errorText(error)}`;
  }
}

/** Asks the `<Connect action>` URL once the stream ended, as Twilio does; its TwiML, or undefined. */
export async function askConnectAction(
  target: ParleyTarget,
  actionUrl: string,
  callSid: string,
): Promise<string | undefined> {
  const form = { CallSid: callSid, AccountSid: ACCOUNT_SID, CallStatus: "in-progress" };
  try {
    return await (await signedPost(target, actionUrl, form)).text();
  } catch {
    return undefined;
  }
}

/** POSTs `form` to `publicUrl`'s path and query on `target`, signed for `publicUrl`. */
function signedPost(
  target: ParleyTarget,
  publicUrl: string,
  form: Record<string, string>,
): Promise<Response> {
  const url = new URL(publicUrl);
  return fetch(`${target.origin}${url.pathname}${url.search}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "X-Twilio-Signature": getExpectedTwilioSignature(target.authToken, publicUrl, form),
    },
    body: new URLSearchParams(form),
  });
}
