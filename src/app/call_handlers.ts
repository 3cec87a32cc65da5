/**
 * The handlers of the call path: Twilio's webhooks and media socket, the calls the API and the
 * softphone start or end, and the health and metrics that report on them.
 *
 * @module
 */

import { createMediaUpgradeHandler } from "../api/media_upgrade.ts";
import { createVoiceWebhookHandler } from "../api/voice_webhook.ts";
import { jsonResponse } from "../http/responses.ts";
import { createPlaceCallHandler } from "../api/place_call.ts";
import { createTwilioStatusHandler } from "../api/twilio_status.ts";
import { createMetricsHandler } from "../api/metrics_route.ts";
import { createHangUpHandler } from "../api/hang_up.ts";
import { createSoftphoneHandler } from "../api/softphone.ts";
import type { EngineId } from "../engines/voices.ts";
import { type CallStatus, FINAL_CALL_STATUSES } from "../calls/call_events.ts";
import type { PlaceOutboundCall } from "../calls/place_call.ts";
import type { Dialer } from "../dialer/dialer.ts";
import { tellOtherInstances } from "./cluster_control.ts";
import type { HandlerName } from "./routes.ts";
import type { RouteHandler } from "./router.ts";
import type { HandlerParts } from "./handler_parts.ts";

/** Calls and streams this server refused, counted for `/metrics`. */
export interface Refusals {
  calls: { capacity: number; draining: number };
  streams: number;
}

/** What the call-path handlers share with the others. */
export interface CallPathShared {
  /** The engine a persona's calls run on (its voices are the ones a call may pick). */
  engineOf: (id: string) => EngineId | undefined;
  /** The call-placing service of `POST /api/calls` (and the dialer). */
  placeOutbound: PlaceOutboundCall;
  refusals: Refusals;
}

type Handlers<Name extends HandlerName> = Record<Name, RouteHandler>;

/** Twilio's side of a call: the media socket, the voice webhook, the status callback. */
export function createTwilioHandlers(
  parts: HandlerParts,
  shared: CallPathShared,
): Handlers<"mediaStream" | "voiceWebhook" | "twilioStatus"> {
  const { config, personas, hub, log, admission, relays, prewarms, tokens } = parts;
  return {
    mediaStream: createMediaUpgradeHandler({
      log,
      tokens,
      prewarms,
      onRefused: () => shared.refusals.streams++,
      ...(parts.mediaSilenceMs === undefined ? {} : { silentMs: parts.mediaSilenceMs }),
      startRelay: (socket, callSid, prewarm) => {
        // No pre-warm here: the webhook may have reached another instance, which closes its own now.
        if (prewarm === undefined) {
          tellOtherInstances(parts.control, { type: "stream_elsewhere", callSid }, log);
        }
        relays.start(socket, callSid, prewarm);
      },
    }),
    voiceWebhook: createVoiceWebhookHandler({
      config,
      personas,
      hub,
      log,
      admission,
      tokens,
      prewarms,
      engineOf: shared.engineOf,
      onRefused: (reason) => shared.refusals.calls[reason]++,
      // Whether or not this instance pre-warms it, the placing instance lets the call go.
      onPlacedElsewhere: (callSid) =>
        tellOtherInstances(parts.control, { type: "stream_elsewhere", callSid }, log),
    }),
    twilioStatus: closingPrewarms(
      createTwilioStatusHandler({
        hub,
        log,
        // The answering-machine result reaches the instance running the call's relay (found by CallSid).
        onAnsweredBy: (callSid, answeredBy) => {
          const relay = relays.get(callSid);
          if (relay !== undefined) relay.machineAnswered(answeredBy);
          else tellOtherInstances(parts.control, { type: "machine_answered", callSid, answeredBy }, log);
        },
      }),
      prewarms,
    ),
  };
}

/**
 * The status route, closing the pre-warm of a call Twilio reports over (its stream will never
 * start) before the status is recorded: the session stops being billed now, not at its expiry, and
 * what it was billed is the call's before the status ends the call (never-connected watch), so the
 * record and `call.ended` count the same.
 */
function closingPrewarms(status: RouteHandler, prewarms: HandlerParts["prewarms"]): RouteHandler {
  return async (request, context) => {
    const { CallSid: callSid, CallStatus: callStatus } = context.form;
    if (callSid !== undefined && FINAL_CALL_STATUSES.has(callStatus as CallStatus)) {
      await prewarms.endBeforeStream(callSid, `Twilio reports the call ${callStatus}`);
    }
    return await status(request, context);
  };
}

/** What an operator or a load balancer reads: `/health` and `/metrics` (with `dialer`'s passes, if any). */
export function createOperatorHandlers(
  parts: HandlerParts,
  refusals: Refusals,
  dialer?: Pick<Dialer, "figures">,
): Handlers<"health" | "metrics"> {
  const { metrics, counters, admission, relays, prewarms } = parts;
  return {
    // 503 while draining: a load balancer stops sending calls here, the calls in progress go on.
    health: () =>
      jsonResponse(admission.draining ? 503 : 200, {
        status: admission.draining ? "draining" : "ok",
        activeCalls: relays.size,
      }),
    metrics: createMetricsHandler({
      metrics,
      counters,
      activeCalls: () => relays.size,
      server: () => ({
        ...(parts.store === undefined ? {} : { store: parts.store.health() }),
        refusedCalls: refusals.calls,
        refusedStreams: refusals.streams,
        draining: admission.draining,
        prewarms: { outcomes: prewarms.outcomes, waiting: prewarms.size },
        listener: parts.listenerHealth?.(),
        dialer: dialer?.figures(),
      }),
      // A database that cannot answer now leaves the cluster's figures out; this instance's stay.
      ...(parts.cluster === undefined
        ? {}
        : { cluster: () => parts.cluster!.figures().catch(() => undefined) }),
    }),
  };
}

/** Calls the user starts or ends: `POST /api/calls`, the hang-up, the softphone. */
export function createCallControlHandlers(
  parts: HandlerParts,
  shared: CallPathShared,
): Handlers<"placeCall" | "hangUp" | "softphone"> {
  const { config, personas, hub, log, admission, relays, prewarms, neverConnected } = parts;
  return {
    placeCall: createPlaceCallHandler({
      config,
      hub,
      log,
      personaIds: () => personas.ids(),
      defaultPersona: config.defaultPersona,
      engineOf: shared.engineOf,
      refuseNewCall: () => admission.refusal()?.message,
      holdNewCall: () => {
        const held = admission.hold();
        return "message" in held ? held.message : held;
      },
      placeOutbound: shared.placeOutbound,
    }),
    hangUp: createHangUpHandler({
      config,
      log,
      endStream: (callSid) => {
        const relay = relays.get(callSid);
        relay?.hangUp();
        return relay !== undefined;
      },
      userHangingUp: (callSid) => {
        const relay = relays.get(callSid);
        relay?.userHangingUp();
        return relay !== undefined;
      },
      // Ringing, or answered with its stream to come: the never-connected watch ends it as the user's.
      beforeStream: {
        userHangingUp: (callSid) => neverConnected.userHangingUp(callSid),
        hungUp: async (callSid) => {
          // Its pre-warm is closed (and what it was billed counted) before the call ends.
          await prewarms.endBeforeStream(callSid, "hung up by the user");
          await neverConnected.userHungUp(callSid);
        },
        failed: (callSid) => neverConnected.userHangUpFailed(callSid),
      },
      ...(parts.store === undefined ? {} : { isOpenCall: parts.store.isOpenCall.bind(parts.store) }),
      ...(parts.control === undefined ? {} : { control: parts.control }),
      ...(parts.fetch === undefined ? {} : { fetch: parts.fetch }),
    }),
    softphone: createSoftphoneHandler({
      personas,
      defaultModel: config.realtimeModel,
      hub,
      log,
      refuseNewCall: () => admission.refusal()?.message,
      startRelay: relays.start,
    }),
  };
}
