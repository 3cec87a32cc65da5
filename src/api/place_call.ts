/**
 * `POST /api/calls`: places an outbound call that a persona answers.
 *
 * The request names the number, the persona and the lead's details; the details travel to the
 * voice webhook as query parameters and from there into the stream's `<Parameter>`s, so the persona
 * can greet the lead by name. Every refusal names the field or the setting to fix. A call is placed
 * only when admission would take it (not draining, below MAX_CONCURRENT_CALLS, counting calls placed
 * and still ringing); the `call.placed` event tells admission the CallSid Twilio returned and its
 * persona, which its webhook then gets.
 *
 * @module
 */

import {
  createOutboundCalls,
  maskNumber,
  missingOutboundSettings,
  type PlaceOutboundCall,
} from "../calls/place_call.ts";
import { callParameterProblem, MAX_CALL_PARAMETERS } from "../calls/call_parameters.ts";
import type { CallHub } from "../calls/call_hub.ts";
import { isE164, type ParleyConfig } from "../config.ts";
import { DEFAULT_ENGINE, type EngineId, voiceProblem } from "../engines/voices.ts";
import { jsonError, jsonResponse } from "../http/responses.ts";
import { readBodyJson } from "../http/body.ts";
import type { Logger } from "../log.ts";
import { type MachineDetection, TwilioRestError } from "../twilio/rest_client.ts";
import type { PlacedCall } from "./types.ts";
import { clip, describeValue } from "../http/input_text.ts";

/** Largest request body accepted, in bytes. */
export const MAX_PLACE_CALL_BODY_BYTES = 16 * 1024;
export { MAX_CALL_PARAMETERS, MAX_PARAMETER_NAME_CHARS } from "../calls/call_parameters.ts";

const FIELDS = ["to", "persona", "voice", "parameters", "machineDetection"] as const;
const MACHINE_DETECTION: readonly MachineDetection[] = ["Enable", "DetectMessageEnd"];

/** The settings the calls API reads; read on every request. */
export type PlaceCallConfig = Pick<
  ParleyConfig,
  | "apiToken"
  | "twilioAccountSid"
  | "twilioAuthToken"
  | "twilioPhoneNumber"
  | "twilioApiBaseUrl"
  | "publicBaseUrl"
>;

/** Options for {@linkcode createPlaceCallHandler}. */
export interface PlaceCallOptions {
  /** Parley's configuration (API_TOKEN, the TWILIO_* settings, PUBLIC_BASE_URL). */
  config: PlaceCallConfig;
  /** Receives a `call.placed` event for each call Twilio accepts. */
  hub: CallHub;
  /** Ids of the personas loaded now. */
  personaIds: () => string[];
  /** Persona used when the request names none (DEFAULT_PERSONA). */
  defaultPersona: string;
  /** Logs placed calls and Twilio's refusals. */
  log: Logger;
  /** The fetch the REST client uses. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Clock for event timestamps. @default Date.now */
  now?: () => number;
  /** The engine of a persona, for checking `voice`. @default every persona is on the Realtime API */
  engineOf?: (personaId: string) => EngineId | undefined;
  /**
   * Why no new call may start now (draining, MAX_CONCURRENT_CALLS: the same rule as the webhook's),
   * or undefined; a refusal answers 503 before Twilio is asked. @default always allowed
   */
  refuseNewCall?: () => string | undefined;
  /**
   * Holds a slot for the call about to be placed (the same rule, checked and held in one step, so a
   * burst of requests cannot all pass the check while Twilio is asked): the refusal's message (503),
   * or the release, called once the call is placed or refused. @default always allowed
   */
  holdNewCall?: () => string | { release(): void };
  /** The call-placing service (shared with the campaign dialer). @default one built from the options */
  placeOutbound?: PlaceOutboundCall;
}

/** A validated request body. */
interface CallRequest {
  to: string;
  persona: string | undefined;
  voice: string | undefined;
  parameters: Record<string, string>;
  machineDetection: MachineDetection | undefined;
}

/**
 * Builds the `POST /api/calls` handler.
 *
 * Request: JSON `{ to, persona?, voice?, parameters?, machineDetection? }`, behind the route table's
 * `bearerOrSession` guard and body limit. Answers 201 `{ callSid, persona }`; 400, 413, 415, 502 or 503
 * with `{ error }`.
 *
 * @example
 * ```ts
 * const placeCall = createPlaceCallHandler({
 *   config, hub, log, defaultPersona: config.defaultPersona, personaIds: () => [...personas.keys()],
 * });
 * // in the route table: { method: "POST", path: "/api/calls", guard: "bearerOrSession", … }
 * ```
 */
export function createPlaceCallHandler(options: PlaceCallOptions): (req: Request) => Promise<Response> {
  const { config, log } = options;
  const placeOutbound = options.placeOutbound ?? createOutboundCalls({
    config,
    hub: options.hub,
    log,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });

  return async (req) => {
    const refused = await refuseBeforeReading(req, options);
    if (refused !== undefined) return refused;

    const body = await readBodyJson(req, MAX_PLACE_CALL_BODY_BYTES, '{"to": "+14155550100"}');
    if (!body.ok) return jsonError(body.status, body.error);
    const parsed = parseCallRequest(body.value, options.personaIds());
    if (!parsed.ok) return jsonError(400, parsed.error);
    const { to, parameters, machineDetection } = parsed.value;

    const persona = parsed.value.persona ?? options.defaultPersona;
    if (parsed.value.persona === undefined && !options.personaIds().includes(persona)) {
      return jsonError(
        503,
        `DEFAULT_PERSONA "${persona}" is not a loaded persona: name one in "persona" or fix DEFAULT_PERSONA (${
          knownPersonas(options.personaIds())
        })`,
      );
    }

    const voice = parsed.value.voice;
    if (voice !== undefined) {
      const problem = voiceProblem(voice, options.engineOf?.(persona) ?? DEFAULT_ENGINE);
      if (problem !== undefined) return jsonError(400, `Field "voice": ${problem}`);
    }
    const slot = options.holdNewCall?.();
    if (typeof slot === "string") return jsonError(503, `No call placed: ${slot}`);
    let callSid: string;
    try {
      callSid = await placeOutbound({ to, persona, voice, parameters, machineDetection });
    } catch (error) {
      if (!(error instanceof TwilioRestError)) throw error;
      return twilioRefused(error, to, log);
    } finally {
      slot?.release(); // placed: its `call.placed` holds the slot now
    }
    return jsonResponse(
      201,
      { callSid, persona, ...(voice === undefined ? {} : { voice }) } satisfies PlacedCall,
    );
  };
}

/** A 503 (at capacity, draining, outbound not configured) or 415 (not JSON) before the body is read; the body is dropped. */
async function refuseBeforeReading(req: Request, options: PlaceCallOptions): Promise<Response | undefined> {
  const full = options.refuseNewCall?.();
  if (full !== undefined) {
    await req.body?.cancel();
    return jsonError(503, `No call placed: ${full}`);
  }

  const missing = missingOutboundSettings(options.config);
  if (missing.length > 0) {
    await req.body?.cancel();
    return jsonError(503, `Outbound calls are not configured: set ${missing.join(", ")} in .env`);
  }

  const contentType = req.headers.get("content-type");
  if (contentType !== null && !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(contentType)) {
    await req.body?.cancel();
    return jsonError(415, `Content-Type "${contentType}" is not JSON: send Content-Type: application/json`);
  }
  return undefined;
}

/** Twilio could not be reached or refused the call: a 502 with its message and code, logged with the number masked. */
function twilioRefused(error: TwilioRestError, to: string, log: Logger): Response {
  const what = error.status === undefined
    ? error.message
    : `Twilio refused the call: ${error.message}${error.code === undefined ? "" : ` (code ${error.code})`}`;
  log.warn(`Outbound call to ${maskNumber(to)} failed: ${what}`);
  return jsonResponse(502, {
    error: what,
    ...(error.code === undefined ? {} : { twilioCode: error.code }),
    ...(error.moreInfo === undefined ? {} : { moreInfo: error.moreInfo }),
  });
}

type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

function parseCallRequest(value: unknown, personaIds: string[]): Parsed<CallRequest> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(
      `Request body must be a JSON object like {"to": "+14155550100"}, not ${describeValue(value)}`,
    );
  }
  const body = value as Record<string, unknown>;
  for (const key of Object.keys(body)) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      return fail(`Unknown field "${clip(key)}": allowed fields are ${FIELDS.join(", ")}`);
    }
  }

  const to = body.to;
  if (to === undefined) {
    return fail('Field "to" is required: the number to call, in E.164 form like +14155550100');
  }
  if (typeof to !== "string" || !isE164(to)) {
    return fail(`Field "to": ${describeValue(to)} is not an E.164 number like +14155550100`);
  }

  let persona: string | undefined;
  if (body.persona !== undefined) {
    if (typeof body.persona !== "string") {
      return fail(`Field "persona": ${describeValue(body.persona)} is not a string`);
    }
    if (!personaIds.includes(body.persona)) {
      return fail(`Field "persona": unknown persona "${clip(body.persona)}": ${knownPersonas(personaIds)}`);
    }
    persona = body.persona;
  }
  if (body.voice !== undefined && typeof body.voice !== "string") {
    return fail(`Field "voice": ${describeValue(body.voice)} is not a string`);
  }

  const parameters = parseParameters(body.parameters);
  if (!parameters.ok) return parameters;

  const md = body.machineDetection;
  if (
    md !== undefined && !(typeof md === "string" && (MACHINE_DETECTION as readonly string[]).includes(md))
  ) {
    return fail(
      `Field "machineDetection": ${describeValue(md)} is not one of ${MACHINE_DETECTION.join(", ")}`,
    );
  }

  return {
    ok: true,
    value: {
      to,
      persona,
      voice: body.voice as string | undefined,
      parameters: parameters.value,
      machineDetection: md as MachineDetection | undefined,
    },
  };
}

/** The body's `parameters`: an object of at most {@linkcode MAX_CALL_PARAMETERS} strings (none when absent). */
function parseParameters(raw: unknown): Parsed<Record<string, string>> {
  const parameters: Record<string, string> = {};
  if (raw !== undefined) {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      return fail(
        `Field "parameters": must be an object of strings like {"leadName": "Ada"}, not ${
          describeValue(raw)
        }`,
      );
    }
    const entries = Object.entries(raw as Record<string, unknown>);
    if (entries.length > MAX_CALL_PARAMETERS) {
      return fail(
        `Field "parameters": ${entries.length} parameters: at most ${MAX_CALL_PARAMETERS} are allowed`,
      );
    }
    for (const [name, item] of entries) {
      const problem = callParameterProblem(name, item);
      if (problem !== undefined) return fail(`Field "parameters": ${problem}`);
      parameters[name] = item as string;
    }
  }
  return { ok: true, value: parameters };
}

function knownPersonas(ids: string[]): string {
  return ids.length === 0
    ? "no personas are loaded (check PERSONAS_DIR)"
    : `known personas are ${ids.join(", ")}`;
}

function fail(error: string): { ok: false; error: string } {
  return { ok: false, error };
}
