/**
 * What Twilio does once Parley has closed a call's stream:
 * - `POST /api/twilio/after-stream?persona=…` (`<Connect action>`): answers `<Hangup/>` (end_call,
 *   voicemail, or the caller already left), `<Dial>` to the transfer target, or the persona's
 *   fallback `<Say>` (the agent could not be reached, or the CallSid is unknown);
 * - `POST /api/twilio/dial-action?persona=…` (`<Dial action>`): a dial that ended `busy`,
 *   `no-answer` or `failed` gets the persona's `transferFailedMessage`, anything else `<Hangup/>`.
 *
 * The decision is a `call.after_stream` event: kept here for calls of this process, and in the call
 * record, so another instance, or this one after a restart, answers the same.
 *
 * @module
 */

import type { AfterStreamAction } from "../calls/call_events.ts";
import type { CallHub } from "../calls/call_hub.ts";
import type { ParleyConfig } from "../config.ts";
import { errorText, excerpt, type Logger } from "../log.ts";
import { DIAL_ACTION_PATH } from "../paths.ts";
import type { PersonaRegistry } from "../personas/types.ts";
import type { AfterStreamDecisions } from "../store/ports.ts";
import { RecentMap } from "../recent.ts";
import { readWithin } from "../read_within.ts";
import { isCallSid } from "../twilio/stream_token.ts";
import {
  DEFAULT_FALLBACK_MESSAGE,
  DEFAULT_TRANSFER_FAILED_MESSAGE,
  dialTwiml,
  fallbackTwiml,
  hangupTwiml,
  sayThenHangupTwiml,
} from "../twilio/twiml.ts";

/** Seconds a transfer target may ring before the dial counts as `no-answer`. */
export const DIAL_TIMEOUT_SECONDS = 30;
/** Decisions kept in memory (the newest); older ones are read from the store. */
const MAX_REMEMBERED = 1_000;
/** `DialCallStatus` values after which the caller hears `transferFailedMessage`. */
const DIAL_FAILURES = new Set(["busy", "no-answer", "failed"]);
/**
 * How long a pending decision is waited for: another instance ran the call, handed it back to
 * Twilio, and is storing its end and decision (a batch flushed every few ms). After this (an instance
 * that crashed before storing it), the fallback.
 */
export const PENDING_DECISION_WAIT_MS = 3_000;
/** How often a pending decision is read again. */
const PENDING_DECISION_POLL_MS = 25;
/**
 * The least a read of the store is given, ms, even the last one of the wait: a healthy store answers in
 * a few, so one that has not by then hangs.
 */
const MIN_READ_WAIT_MS = 250;

/** Options of {@linkcode createAfterStreamRoutes}. */
export interface AfterStreamOptions {
  config: Pick<ParleyConfig, "twilioAuthToken" | "publicBaseUrl" | "twilioSignatureCheck" | "defaultPersona">;
  personas: PersonaRegistry;
  hub: CallHub;
  log: Logger;
  /** Where decisions of other instances, or of this one before a restart, are read. */
  store?: AfterStreamDecisions;
  /**
   * How long a pending decision is waited for, and a store that fails to answer is asked again.
   * @default PENDING_DECISION_WAIT_MS
   */
  pendingWaitMs?: number;
}

/** A Twilio route's input: its form, read and signature-checked by the route table's `twilio` guard. */
export interface TwilioForm {
  form: Record<string, string>;
}

/** The two routes, and the hub subscription to end on shutdown. */
export interface AfterStreamRoutes {
  afterStream(request: Request, context: TwilioForm): Promise<Response>;
  dialAction(request: Request, context: TwilioForm): Response;
  close(): void;
}

/**
 * Builds the after-stream and dial-action handlers.
 *
 * @example
 * ```ts
 * const routes = createAfterStreamRoutes({ config, personas, hub, log, store });
 * // in the route table: { method: "POST", path: AFTER_STREAM_PATH, guard: "twilio", … }
 * ```
 */
export function createAfterStreamRoutes(options: AfterStreamOptions): AfterStreamRoutes {
  const { config, personas, log } = options;
  const decisions = rememberDecisions(options);

  /** The signed form and the persona named in the query. */
  const read = (request: Request, { form }: TwilioForm) => {
    const personaId = new URL(request.url).searchParams.get("persona") ?? config.defaultPersona;
    const persona = (personas.get(personaId) ?? personas.get(config.defaultPersona))?.persona;
    return { form, personaId, persona };
  };

  return {
    async afterStream(request, context) {
      const input = read(request, context);
      const callSid = input.form.CallSid;
      const decision = isCallSid(callSid) ? await decisions.decisionFor(callSid) : undefined;
      if (decision?.action === "hangup") return twiml(hangupTwiml(), log, callSid, "hang up");
      if (decision?.action === "dial" && decision.target !== undefined) {
        const actionUrl = new URL(DIAL_ACTION_PATH, config.publicBaseUrl);
        actionUrl.searchParams.set("persona", input.personaId);
        const answer = dialTwiml({
          target: decision.target,
          actionUrl: actionUrl.toString(),
          timeoutSeconds: DIAL_TIMEOUT_SECONDS,
        });
        return twiml(answer, log, callSid, `dial ${decision.target}`);
      }
      const message = input.persona?.fallbackMessage ?? DEFAULT_FALLBACK_MESSAGE;
      const why = decision === undefined
        ? "fallback message (no decision for this call)"
        : "fallback message";
      return twiml(fallbackTwiml(message), log, callSid, why);
    },

    dialAction(request, context) {
      const input = read(request, context);
      const status = input.form.DialCallStatus ?? "";
      const callSid = input.form.CallSid;
      if (!DIAL_FAILURES.has(status)) {
        return twiml(hangupTwiml(), log, callSid, `hang up (dial ${status || "ended"})`);
      }
      const message = input.persona?.transferFailedMessage ?? DEFAULT_TRANSFER_FAILED_MESSAGE;
      return twiml(
        sayThenHangupTwiml(message),
        log,
        callSid,
        `transfer failed (${status}): saying transferFailedMessage`,
      );
    },

    close: () => decisions.close(),
  };
}

/** A call's after-stream decision: hang up, or dial `target` (the rest get the fallback). */
interface Decision {
  action: AfterStreamAction;
  target: string | undefined;
}

/** Where {@linkcode createAfterStreamRoutes} finds a call's decision, and the subscription to end. */
interface DecisionBook {
  /** The call's decision, undefined when none was made or none came in time. */
  decisionFor(callSid: string): Promise<Decision | undefined>;
  close(): void;
}

/**
 * Keeps the decisions made by calls of this process (the newest {@linkcode MAX_REMEMBERED}, heard on
 * the hub), and reads the others from the store, waiting a while for one still pending.
 */
function rememberDecisions(options: AfterStreamOptions): DecisionBook {
  const { store, log } = options;
  const decisions = new RecentMap<string, Decision>(MAX_REMEMBERED);
  const off = options.hub.subscribe((event) => {
    if (event.type !== "call.after_stream") return;
    decisions.set(event.callSid, { action: event.action, target: event.target });
  });

  const decisionFor = async (callSid: string) => {
    const known = decisions.get(callSid);
    if (known !== undefined) return known;
    if (store === undefined) return undefined;
    // Twilio asks as soon as the stream is closed, possibly of an instance that did not run the call,
    // before the one that did has stored its decision: a started call with neither an end nor a
    // decision yet is waited for, or its caller would hear the fallback instead of the hang-up or
    // the transfer.
    // A store that fails to answer (a database restarting, a locked file) is asked again within the
    // same wait: the caller hears the fallback after it, never Twilio's application error for a 500.
    const giveUpAt = Date.now() + (options.pendingWaitMs ?? PENDING_DECISION_WAIT_MS);
    let failure: string | undefined;
    for (;;) {
      const stored = decisions.get(callSid) ??
        await readWithin(
          store.afterStreamDecision(callSid),
          Math.max(giveUpAt - Date.now(), MIN_READ_WAIT_MS),
        ).then(
          (answer) => {
            failure = undefined; // the log names the last read's problem, if it had one
            return answer;
          },
          (error) => {
            failure = errorText(error);
            return "pending" as const;
          },
        );
      if (stored !== "pending") return stored;
      if (Date.now() >= giveUpAt) {
        log.warn(
          failure === undefined
            ? `[Twilio] No after-stream decision stored for CallSid=${callSid} in time: fallback`
            : `[Twilio] Cannot read the after-stream decision for CallSid=${callSid} from the call store ` +
              `(${excerpt(failure)}): fallback`,
        );
        return undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, PENDING_DECISION_POLL_MS));
    }
  };
  return { decisionFor, close: off };
}

function twiml(body: string, log: Logger, callSid: string | undefined, what: string): Response {
  log.info(`After stream: CallSid=${isCallSid(callSid) ? callSid : "(none)"} → ${what}`);
  return new Response(body, { headers: { "content-type": "text/xml; charset=utf-8" } });
}
