/**
 * Control of a call by CallSid across instances: the request (a hang-up, an answering-machine result)
 * may reach any instance, while the call's relay runs on one. The instance that gets the request and
 * does not relay the call sends a {@linkcode CallCommand} on the {@linkcode CallControl} channel; the
 * instance that relays it acts on it, the others ignore it. One process alone needs no channel.
 *
 * @module
 */

/** What one instance asks of the instance running a call (or holding its pre-warm). */
export type CallCommand =
  /** End the call's stream now (the user hung up from the page or API, without Twilio's REST API). */
  | { type: "hang_up"; callSid: string }
  /** A user hangs the call up through Twilio: its coming `stop` is `hung_up_by_user`. */
  | { type: "user_hanging_up"; callSid: string }
  /** Twilio's answering-machine result (`AnsweredBy`) for the call. */
  | { type: "machine_answered"; callSid: string; answeredBy: string }
  /**
   * The sender took the call (its stream started there without a pre-warm, or its webhook, of a call
   * placed elsewhere, was answered there): close any pre-warm for it, free its slot and stop waiting
   * for its stream.
   */
  | { type: "stream_elsewhere"; callSid: string };

/** The kinds of {@linkcode CallCommand}. */
export const CALL_COMMAND_TYPES: readonly CallCommand["type"][] = [
  "hang_up",
  "user_hanging_up",
  "machine_answered",
  "stream_elsewhere",
];

/** Hears the commands other instances send. */
export type CallCommandListener = (command: CallCommand) => void;

/** The channel between instances on one database. */
export interface CallControl {
  /** Sends `command` to every other instance; resolves once the database has taken it. */
  send(command: CallCommand): Promise<void>;
  /** Listens to the other instances' commands (never this instance's own). Returns the unsubscribe function. */
  listen(listener: CallCommandListener): () => void;
}

/** Longest `AnsweredBy` passed on (Twilio's values are short words like `machine_end_beep`). */
const MAX_ANSWERED_BY = 40;

/**
 * `value` as a {@linkcode CallCommand}, or a sentence saying what is wrong with it (a channel
 * carries JSON another process wrote; nothing unchecked reaches a relay).
 */
export function parseCallCommand(value: unknown): CallCommand | string {
  if (typeof value !== "object" || value === null) return "not an object";
  const { type, callSid, answeredBy } = value as Record<string, unknown>;
  if (!CALL_COMMAND_TYPES.includes(type as CallCommand["type"])) {
    return `unknown type ${JSON.stringify(String(type).slice(0, 40))}`;
  }
  if (typeof callSid !== "string" || !/^(CA|BR)[0-9a-f]{32}$/.test(callSid)) {
    return `callSid ${JSON.stringify(String(callSid).slice(0, 40))} is not a CallSid`;
  }
  if (type === "machine_answered") {
    if (typeof answeredBy !== "string" || !/^[a-z_]{1,40}$/.test(answeredBy)) {
      return `answeredBy ${
        JSON.stringify(String(answeredBy).slice(0, MAX_ANSWERED_BY))
      } is not an AnsweredBy value`;
    }
    return { type, callSid, answeredBy };
  }
  return { type: type as Exclude<CallCommand["type"], "machine_answered">, callSid };
}
