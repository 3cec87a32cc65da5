/**
 * `POST|GET /api/twilio/voice-realtime`: Twilio's voice webhook → `<Connect><Stream>` TwiML naming a
 * per-call stream token, or the persona's fallback message when {@linkcode Admission} refuses.
 *
 * Idempotent per CallSid (Twilio's signature has no timestamp, so a captured webhook can be replayed
 * at will): only the first webhook of a call gets a token, a capacity slot and a pre-warmed session;
 * a repeat while its stream is still to come (Twilio retrying a webhook that timed out) gets the same
 * TwiML, with the same single-use token, so the call still connects, once; the webhook of a call whose
 * stream started or that ended gets `<Hangup/>` and opens nothing. A refused call (at
 * MAX_CONCURRENT_CALLS, or while draining) is recorded, ended at once (`never_connected`, its detail
 * saying why), and remembered: a repeat gets the same fallback message and opens nothing, and another
 * instance, or the next run, finds its ended record.
 *
 * Twilio's parameters come in the form (POST) or in the query (GET); on a GET, Twilio's own request
 * parameters (`TWILIO_REQUEST_PARAMETERS`, `webhook_parameters.ts`) are not the call's: they do not
 * reach the stream.
 *
 * A webhook whose URL has `?parley_source=rehearsal` (a rehearsal's virtual phone, `src/rehearsal/`)
 * is recorded with `source: "rehearsal"`, and that parameter does not reach the call.
 *
 * The persona: the one `POST /api/calls` placed the call with, else `?persona=` (written by
 * `setup-number --persona`, or by another instance's `POST /api/calls`), else INBOUND_PERSONA: a call
 * Parley did not place is an inbound call. The form's `Direction` is never read for it: Twilio's
 * signature joins names and values with no separator, so a re-split form (`Directio=ninbound`) keeps
 * a valid signature.
 *
 * @module
 */

import type { Admission, AdmissionRefusal, WebhookVerdict } from "../calls/admission.ts";
import type { CallEvent } from "../calls/call_events.ts";
import type { CallHub } from "../calls/call_hub.ts";
import type { ParleyConfig } from "../config.ts";
import { DEFAULT_ENGINE, type EngineId, voiceProblem } from "../engines/voices.ts";
import { jsonError } from "../http/responses.ts";
import type { Logger } from "../log.ts";
import { AFTER_STREAM_PATH, MEDIA_STREAM_PATH } from "../paths.ts";
import type { PersonaRegistry } from "../personas/types.ts";
import type { Prewarms } from "../relay/prewarm.ts";
import { isCallSid, type StreamTokens } from "../twilio/stream_token.ts";
import {
  connectStreamTwiml,
  DEFAULT_FALLBACK_MESSAGE,
  fallbackTwiml,
  fitParameters,
  hangupTwiml,
  MAX_PARAMETER_CHARS,
} from "../twilio/twiml.ts";
import { splitWebhookParameters } from "./webhook_parameters.ts";

/**
 * The query parameter a rehearsal's virtual phone sets (`?parley_source=rehearsal`) so its call is
 * recorded with `source: "rehearsal"`; the only value accepted.
 */
export const SOURCE_PARAMETER = "parley_source";

/** Twilio's values of `Direction`, recorded as sent (display only). */
const DIRECTIONS = new Set(["inbound", "outbound-api", "outbound-dial", "trunking-originating"]);

/** Options of {@linkcode createVoiceWebhookHandler}. */
export interface VoiceWebhookOptions {
  config: Pick<ParleyConfig, "defaultPersona" | "inboundPersona" | "publicBaseUrl" | "publicInstanceUrl">;
  personas: PersonaRegistry;
  hub: CallHub;
  log: Logger;
  admission: Admission;
  tokens: StreamTokens;
  prewarms: Pick<Prewarms, "openForWebhook">;
  /** The engine of a persona, for checking `?voice=`. */
  engineOf: (personaId: string) => EngineId | undefined;
  /** Counts refusals by reason (the metrics). */
  onRefused: (reason: "capacity" | "draining") => void;
  /**
   * This webhook took an outbound call not placed here (another instance placed it): that instance
   * is told, so it frees the call's slot and stops waiting for its stream.
   */
  onPlacedElsewhere?: (callSid: string) => void;
}

/**
 * Builds the voice webhook handler. It runs behind the route table's `twilio` guard, which checked the
 * signature and hands over the POST's form (empty for a GET).
 */
export function createVoiceWebhookHandler(
  options: VoiceWebhookOptions,
): (request: Request, context: { form: Record<string, string> }) => Promise<Response> {
  const { config, log, admission, tokens } = options;
  // PUBLIC_INSTANCE_URL: the media socket comes back to this instance, which pre-warmed the call.
  const publicHost = new URL(config.publicInstanceUrl ?? config.publicBaseUrl!).host;

  return async (request, { form }) => {
    const query = Object.fromEntries(new URL(request.url).searchParams);
    // Twilio sends its parameters in the form (POST) or the query (GET).
    const { twilio, call: callQuery } = splitWebhookParameters(request.method, form, query);
    const callSid = twilio.CallSid;
    if (!isCallSid(callSid)) {
      log.warnRateLimited(
        "voice-webhook-callsid",
        `Refused voice webhook: CallSid ${
          callSid === undefined ? "missing" : `"${String(callSid).slice(0, 40)}"`
        } is not a CallSid (CA followed by 32 hex digits)`,
      );
      return jsonError(400, "Missing or malformed CallSid: expected CA followed by 32 hex digits");
    }

    // Nothing is awaited from here to `admission.answered` (or `.refused`): a racing retry finds this
    // call answered (or refused).
    const verdict = await admission.webhook(callSid);
    if (verdict.kind !== "new") return answerAgain(verdict, callSid, log);

    const placed = verdict.placed;
    const personaId = choosePersona(options, placed?.persona, callQuery.persona);
    const call = readCallQuery(options, callQuery, personaId);
    if (call instanceof Response) return call;
    const webhook = webhookEvent(callSid, personaId, placed !== undefined, twilio, call);
    if (placed === undefined && webhook.direction.startsWith("outbound")) {
      options.onPlacedElsewhere?.(callSid);
    }
    // A call placed here already holds its slot: only a drain refuses it.
    const refusal = admission.refusal(placed !== undefined);
    if (refusal !== undefined) return refuse(options, webhook, refusal);
    options.hub.emit(webhook);
    const actionUrl = new URL(AFTER_STREAM_PATH, config.publicBaseUrl);
    actionUrl.searchParams.set("persona", personaId);
    const twiml = connectStreamTwiml({
      streamUrl: `wss://${publicHost}${MEDIA_STREAM_PATH}/${tokens.issue(callSid)}`,
      parameters: call.kept,
      actionUrl: actionUrl.toString(),
    });
    admission.answered(callSid, twiml);
    // The session opens while Twilio fetches this TwiML and connects: the greeting is ready at `start`.
    options.prewarms.openForWebhook(callSid, call.kept);
    return xml(twiml);
  };
}

/** The `call.webhook` event a call's first webhook emits, answered or refused. */
type WebhookEvent = Extract<CallEvent, { type: "call.webhook" }>;

/** The `call.webhook` event of `callSid`: Twilio's numbers and direction, the call's own parameters. */
function webhookEvent(
  callSid: string,
  personaId: string,
  placedHere: boolean,
  twilio: Record<string, string>,
  call: { kept: Record<string, string>; sourceName: string | undefined },
): WebhookEvent {
  return {
    type: "call.webhook",
    at: Date.now(),
    callSid,
    persona: personaId,
    direction: placedHere ? "outbound-api" : DIRECTIONS.has(twilio.Direction ?? "") ? twilio.Direction! : "",
    ...(call.sourceName === undefined ? {} : { source: "rehearsal" as const }),
    from: twilio.From ?? "",
    to: twilio.To ?? "",
    parameters: call.kept,
  };
}

function xml(body: string): Response {
  return new Response(body, { headers: { "content-type": "text/xml; charset=utf-8" } });
}

/**
 * A webhook of a call already answered: the same TwiML again (the same stream, or a refused call's
 * fallback), or `<Hangup/>` once its stream started or it ended.
 */
function answerAgain(
  verdict: Exclude<WebhookVerdict, { kind: "new" }>,
  callSid: string,
  log: Logger,
): Response {
  if (verdict.kind === "repeat") {
    // Rate-limited: a replayed capture must not flood the log either.
    log.warnRateLimited(
      "voice-webhook-repeat",
      `Repeated voice webhook for CallSid=${callSid} (a Twilio retry, or a replay): answered as before (no new token or session)`,
    );
    return xml(verdict.answer);
  }
  log.warnRateLimited(
    "voice-webhook-over",
    `Voice webhook for CallSid=${callSid}, whose call already ${verdict.why}: answered <Hangup/>, opened nothing`,
  );
  return xml(hangupTwiml());
}

/** The persona the call was placed with, else `?persona=`, else INBOUND_PERSONA; an unknown one falls back. */
function choosePersona(
  options: VoiceWebhookOptions,
  placedPersona: string | undefined,
  queryPersona: string | undefined,
): string {
  const fallbackPersona = placedPersona ?? options.config.inboundPersona;
  const personaId = placedPersona ?? queryPersona ?? fallbackPersona;
  if (options.personas.get(personaId) !== undefined) return personaId;
  options.log.warn(
    `Voice webhook asked for unknown persona "${personaId.slice(0, 40)}": using "${fallbackPersona}"`,
  );
  return fallbackPersona;
}

/**
 * The call's parameters from the webhook's query (those Twilio can carry; a GET's without Twilio's
 * own), and whether a rehearsal's virtual phone marked it; a 400 for a bad `?voice=` or `?parley_source=`.
 */
function readCallQuery(
  options: VoiceWebhookOptions,
  query: Record<string, string>,
  personaId: string,
): { kept: Record<string, string>; sourceName: string | undefined } | Response {
  if (query.voice !== undefined) {
    const problem = voiceProblem(query.voice, options.engineOf(personaId) ?? DEFAULT_ENGINE);
    if (problem !== undefined) return jsonError(400, `Parameter "voice": ${problem}`);
  }
  // A rehearsal's virtual phone marks its call (signed like every webhook); it is no call parameter.
  const { [SOURCE_PARAMETER]: sourceName, ...callQuery } = query;
  if (sourceName !== undefined && sourceName !== "rehearsal") {
    return jsonError(
      400,
      `Parameter "${SOURCE_PARAMETER}": "${sourceName.slice(0, 40)}" is not "rehearsal"`,
    );
  }
  const { kept, dropped } = fitParameters({ ...callQuery, persona: personaId });
  if (dropped.length > 0) {
    options.log.warn(
      `Dropped webhook parameters longer than Twilio allows (${MAX_PARAMETER_CHARS} characters): ${
        dropped.join(", ")
      }`,
    );
  }
  return { kept, sourceName };
}

/**
 * A refused call: counted, logged, and answered with the persona's fallback message and no stream. It
 * is remembered (a repeat gets the same answer, and opens nothing) and recorded, ended at once, so
 * that another instance, or the next run, finds it ended and opens nothing for a replay either.
 */
function refuse(options: VoiceWebhookOptions, webhook: WebhookEvent, refusal: AdmissionRefusal): Response {
  const { callSid } = webhook;
  options.onRefused(refusal.reason);
  options.log.warnRateLimited(
    `voice-webhook-${refusal.reason}`,
    `Refused call CallSid=${callSid} (${refusal.message}): answered with the fallback message, no stream`,
  );
  const fallbackMessage = options.personas.get(webhook.persona)?.persona.fallbackMessage ??
    DEFAULT_FALLBACK_MESSAGE;
  const twiml = fallbackTwiml(fallbackMessage);
  options.admission.refused(callSid, twiml);
  options.hub.emit(webhook);
  options.hub.emit({
    type: "call.ended",
    at: Date.now(),
    callSid,
    reason: "never_connected",
    detail: `refused (${refusal.message}): answered with the fallback message, no stream`,
  });
  return xml(twiml);
}
