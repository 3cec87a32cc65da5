/**
 * A voice webhook's parameters, in two parts: Twilio's own request parameters (the form of a POST; on
 * a GET, appended to the URL's query) and the call's own parameters (the query Parley, `setup-number`
 * or a rehearsal wrote into the webhook URL), which become the stream's `<Parameter>`s.
 *
 * @module
 */

/**
 * Twilio's standard request parameters of a voice webhook (Twilio's "Voice webhooks" page; the
 * answering-machine, STIR/SHAKEN and TwiML-app ones included). A GET carries them in the query, beside
 * the call's own parameters: these names there are Twilio's, not the call's.
 */
export const TWILIO_REQUEST_PARAMETERS: ReadonlySet<string> = new Set([
  "CallSid",
  "AccountSid",
  "From",
  "To",
  "CallStatus",
  "ApiVersion",
  "Direction",
  "ForwardedFrom",
  "CallerName",
  "ParentCallSid",
  "CallToken",
  "FromCity",
  "FromState",
  "FromZip",
  "FromCountry",
  "ToCity",
  "ToState",
  "ToZip",
  "ToCountry",
  "Called",
  "CalledCity",
  "CalledState",
  "CalledZip",
  "CalledCountry",
  "Caller",
  "CallerCity",
  "CallerState",
  "CallerZip",
  "CallerCountry",
  "StirVerstat",
  "StirPassportToken",
  "AnsweredBy",
  "MachineDetectionDuration",
  "ApplicationSid",
  "AddOns",
]);

/** A voice webhook's parameters: Twilio's, and the call's own. */
export interface WebhookParameters {
  /** Twilio's request parameters: the form of a POST; on a GET, those of the query Twilio names. */
  twilio: Record<string, string>;
  /** The call's own: the query of a POST; on a GET, the query but Twilio's request parameters. */
  call: Record<string, string>;
}

/**
 * Splits a voice webhook's parameters into Twilio's and the call's own, by method: a POST's form is
 * Twilio's and its query the call's; a GET's query holds both, told apart by
 * {@linkcode TWILIO_REQUEST_PARAMETERS}.
 */
export function splitWebhookParameters(
  method: string,
  form: Record<string, string>,
  query: Record<string, string>,
): WebhookParameters {
  if (method === "POST") return { twilio: form, call: query };
  const twilio: Record<string, string> = {};
  const call: Record<string, string> = {};
  for (const [name, value] of Object.entries(query)) {
    (TWILIO_REQUEST_PARAMETERS.has(name) ? twilio : call)[name] = value;
  }
  return { twilio, call };
}
