/**
 * `POST /api/calls/:callSid/hangup`: ends a call. A phone call is hung up through Twilio's REST API
 * when Twilio credentials are set; otherwise (and for browser calls) Parley ends the stream itself,
 * which ends a `<Connect><Stream>` call too. Behind the route table's `bearerOrSession` guard.
 *
 * @module
 */

import type { ParleyConfig } from "../config.ts";
import { jsonError, jsonResponse } from "../http/responses.ts";
import type { Logger } from "../log.ts";
import { createTwilioRestClient, TwilioRestError } from "../twilio/rest_client.ts";
import { isCallSid } from "../twilio/stream_token.ts";
import type { HungUpCall } from "./types.ts";

/** Options for {@linkcode createHangUpHandler}. */
export interface HangUpOptions {
  config: Pick<ParleyConfig, "twilioAccountSid" | "twilioAuthToken" | "twilioApiBaseUrl">;
  /** Ends the stream of a call relayed here; false when no such call is in progress. */
  endStream: (callSid: string) => boolean;
  log: Logger;
  /** The fetch the REST client uses. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** Builds the hang-up handler; `:callSid` comes from the route table's path. */
export function createHangUpHandler(
  options: HangUpOptions,
): (request: Request, context: { params: Record<string, string> }) => Promise<Response> {
  const { config, log } = options;
  return async (request, { params }) => {
    await request.body?.cancel();
    let callSid: string;
    try {
      callSid = decodeURIComponent(params.callSid ?? "");
    } catch (error) {
      if (!(error instanceof URIError)) throw error;
      return jsonError(400, `Invalid callSid "${(params.callSid ?? "").slice(0, 40)}": bad percent-encoding`);
    }
    const phoneCall = isCallSid(callSid);
    if (phoneCall && config.twilioAccountSid !== undefined && config.twilioAuthToken !== undefined) {
      const client = createTwilioRestClient({
        accountSid: config.twilioAccountSid,
        authToken: config.twilioAuthToken,
        baseUrl: config.twilioApiBaseUrl,
        ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      });
      try {
        await client.hangUpCall(callSid);
      } catch (error) {
        if (!(error instanceof TwilioRestError)) throw error;
        log.warn(`Hang-up of CallSid=${callSid} through Twilio failed: ${error.message}`);
        if (options.endStream(callSid)) {
          return jsonResponse(200, { callSid, via: "stream" } satisfies HungUpCall);
        }
        return jsonError(502, `Twilio refused the hang-up: ${error.message}`);
      }
      log.info(`Hung up CallSid=${callSid} through Twilio`);
      return jsonResponse(200, { callSid, via: "twilio" } satisfies HungUpCall);
    }
    if (options.endStream(callSid)) {
      log.info(`Hung up CallSid=${callSid} by ending its stream`);
      return jsonResponse(200, { callSid, via: "stream" } satisfies HungUpCall);
    }
    return jsonError(404, `Call "${callSid.slice(0, 40)}" is not in progress on this server`);
  };
}
