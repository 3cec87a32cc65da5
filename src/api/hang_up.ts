/**
 * `POST /api/calls/:callSid/hangup`: ends a call Parley knows — one relayed here, or one whose record is
 * open and that Parley placed or answered. Anything else is 404: the route never asks Twilio to hang up
 * an arbitrary CallSid on the account. A phone call is hung up through Twilio's REST API when Twilio
 * credentials are set; otherwise (and for browser calls) Parley ends the stream itself, which ends a
 * `<Connect><Stream>` call too. Either way the record says `hung_up_by_user`: a call whose stream has not
 * started (ringing, or answered and Twilio's `start` still to come) is marked before Twilio is asked, and
 * ends when Twilio takes the hang-up (or reports the call over first), so the never-connected watch
 * does not call it `never_connected` ({@linkcode HangUpOptions.beforeStream}). With several instances
 * (Postgres), a call open in the records but relayed by another instance is reached over the
 * {@linkcode CallControl} channel: that instance marks or ends its stream. Behind the route table's
 * `bearerOrSession` guard.
 *
 * @module
 */

import type { ParleyConfig } from "../config.ts";
import { jsonError, jsonResponse } from "../http/responses.ts";
import type { Logger } from "../log.ts";
import { createTwilioRestClient, TwilioRestError } from "../twilio/rest_client.ts";
import { isCallSid } from "../twilio/stream_token.ts";
import type { HungUpCall } from "./types.ts";
import type { CallControl } from "../calls/call_control.ts";
import { errorText } from "../log.ts";

/** Options for {@linkcode createHangUpHandler}. */
export interface HangUpOptions {
  config: Pick<ParleyConfig, "twilioAccountSid" | "twilioAuthToken" | "twilioApiBaseUrl">;
  /** Ends the stream of a call relayed here; false when no such call is in progress. */
  endStream: (callSid: string) => boolean;
  /**
   * Tells the call relayed here that a user is hanging it up through Twilio (its coming `stop` is
   * `hung_up_by_user`); false when no such call is in progress here.
   */
  userHangingUp: (callSid: string) => boolean;
  /**
   * The calls placed or answered here whose stream has not started (ringing, or between the voice
   * webhook and `start`): one a user hangs up through Twilio is marked first (`userHangingUp`, false
   * when no such call waits here), so that the end Twilio's final status brings is `hung_up_by_user`;
   * `hungUp` ends it once Twilio took the hang-up (a number may send no status callback), `failed`
   * takes the mark back when Twilio refused.
   */
  beforeStream?: {
    userHangingUp(callSid: string): boolean;
    hungUp(callSid: string): Promise<void>;
    failed(callSid: string): void;
  };
  /** True when the call's record is open and Parley placed or answered it (another instance may relay it). */
  isOpenCall?: (callSid: string) => Promise<boolean>;
  /** Reaches the instance relaying an open call this one does not (several instances on Postgres). */
  control?: Pick<CallControl, "send">;
  log: Logger;
  /** The fetch the REST client uses. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** A browser (softphone) call's CallSid. */
const BROWSER_CALL_SID = /^BR[0-9a-f]{32}$/;

/** The CallSid in the path's `:callSid` segment (still percent-encoded), or the problem with it. */
function callSidOf(raw: string): { callSid: string } | { problem: string } {
  let callSid: string;
  try {
    callSid = decodeURIComponent(raw);
  } catch {
    return {
      problem: `CallSid ${JSON.stringify(raw.slice(0, 40))} in the path is not valid percent-encoding`,
    };
  }
  // JSON.stringify escapes control characters: the echo is safe to show.
  const shown = JSON.stringify(callSid.slice(0, 40));
  if (!BROWSER_CALL_SID.test(callSid) && !isCallSid(callSid)) {
    return { problem: `CallSid ${shown} in the path is not a CallSid (CA or BR and 32 hex digits)` };
  }
  return { callSid };
}

/** Builds the hang-up handler; `:callSid` comes from the route table's path. */
export function createHangUpHandler(
  options: HangUpOptions,
): (request: Request, context: { params: Record<string, string> }) => Promise<Response> {
  const { config, log } = options;
  return async (request, { params }) => {
    await request.body?.cancel();
    const parsed = callSidOf(params.callSid ?? "");
    if ("problem" in parsed) return jsonError(400, parsed.problem);
    const { callSid } = parsed;
    // Marked before Twilio is asked: its `stop` may arrive before the REST answer does.
    const here = options.userHangingUp(callSid);
    if (!here && await options.isOpenCall?.(callSid) !== true) {
      return jsonError(404, `Call ${callSid} is not in progress (Parley neither relays it nor has it open)`);
    }
    // Open, and not relayed here: another instance may relay it, and hears the commands below.
    const peers = here ? undefined : options.control;
    const tell = (type: PeerCommand) => tellPeers(peers!, type, callSid, log);
    const { twilioAccountSid: accountSid, twilioAuthToken: authToken } = config;
    if (isCallSid(callSid) && accountSid !== undefined && authToken !== undefined) {
      // Before Twilio is asked, as above: the relaying instance marks its coming `stop` as the user's.
      if (peers !== undefined) await tell("user_hanging_up");
      // No stream yet (it rings, or `start` is still to come): Twilio's final status may come first.
      const beforeStream = here ? undefined : options.beforeStream;
      const marked = beforeStream?.userHangingUp(callSid) === true ? beforeStream : undefined;
      return await hangUpThroughTwilio(callSid, {
        ...options,
        credentials: { accountSid, authToken },
        tell: peers === undefined ? undefined : tell,
        marked,
      });
    }
    if (options.endStream(callSid)) {
      log.info(`Hung up CallSid=${callSid} by ending its stream`);
      return jsonResponse(200, { callSid, via: "stream" } satisfies HungUpCall);
    }
    if (peers !== undefined && await tell("hang_up")) {
      log.info(`Hung up CallSid=${callSid}: the instance relaying it was told to end its stream`);
      return jsonResponse(200, { callSid, via: "stream" } satisfies HungUpCall);
    }
    return jsonError(
      404,
      `Call ${callSid} is not in progress on this server (and no Twilio credentials are set)`,
    );
  };
}

/** What one instance tells the others about a call it does not relay. */
type PeerCommand = "hang_up" | "user_hanging_up";

/** Tells the other instances; false (logged) when the channel refuses. */
async function tellPeers(
  peers: Pick<CallControl, "send">,
  type: PeerCommand,
  callSid: string,
  log: Logger,
): Promise<boolean> {
  try {
    await peers.send({ type, callSid });
    return true;
  } catch (error) {
    log.warn(
      `Could not tell the other instances to end CallSid=${callSid}: ${errorText(error)}`,
    );
    return false;
  }
}

/**
 * Hangs `callSid` up through Twilio's REST API with `credentials`. When Twilio refuses, the stream
 * is ended instead: here, or by the instance relaying it (`tell`, when another one may). A call
 * `marked` as hung up before its stream started ends once Twilio took the hang-up, or loses its mark.
 */
async function hangUpThroughTwilio(
  callSid: string,
  options: HangUpOptions & {
    credentials: { accountSid: string; authToken: string };
    tell: ((type: PeerCommand) => Promise<boolean>) | undefined;
    marked: HangUpOptions["beforeStream"];
  },
): Promise<Response> {
  const { config, log, tell, marked } = options;
  const client = createTwilioRestClient({
    ...options.credentials,
    baseUrl: config.twilioApiBaseUrl,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  try {
    await client.hangUpCall(callSid);
  } catch (error) {
    // Not hung up: an end Twilio reports later is the callee's, not the user's.
    marked?.failed(callSid);
    if (!(error instanceof TwilioRestError)) throw error;
    log.warn(`Hang-up of CallSid=${callSid} through Twilio failed: ${error.message}`);
    if (options.endStream(callSid) || (tell !== undefined && await tell("hang_up"))) {
      return jsonResponse(200, { callSid, via: "stream" } satisfies HungUpCall);
    }
    return jsonError(502, `Twilio refused the hang-up: ${error.message}`);
  }
  log.info(`Hung up CallSid=${callSid} through Twilio`);
  await marked?.hungUp(callSid);
  return jsonResponse(200, { callSid, via: "twilio" } satisfies HungUpCall);
}
