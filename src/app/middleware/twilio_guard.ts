/**
 * The `twilio` guard of the route table: Twilio signs the URL it called plus the POST's form, so this
 * guard reads the form once (within the route's body limit), checks the signature, and hands the form
 * to the handler. A request the check refuses whatever its form says (no `X-Twilio-Signature`, or no
 * token or public URL to check it with) gets its 403 without its body being read.
 *
 * @module
 */

import { readBodyText } from "../../http/body.ts";
import type { Logger } from "../../log.ts";
import { refuseUnsignedBeforeForm, refuseUnsignedTwilio } from "../../twilio/signature.ts";
import { redactStreamPath } from "../../twilio/stream_token.ts";
import { jsonError } from "../../http/responses.ts";
import type { BodyLimit } from "../routes.ts";

/** TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL and TWILIO_SIGNATURE_CHECK. */
export interface TwilioSignatureSettings {
  authToken: string | undefined;
  publicBaseUrl: string | undefined;
  /** PUBLIC_INSTANCE_URL: the origin stream URLs name, so the media socket is signed over it. */
  publicInstanceUrl?: string | undefined;
  enabled: boolean;
}

/**
 * Reads the form of a POST (within `bodyLimit`) and checks Twilio's signature over it and the URL
 * (`wss://` for a socket handshake): the 403, 413 or 400 (not UTF-8) to answer, or the form for the
 * handler. An unsigned request is refused (403) before its body is read: a flood of them costs no
 * reading or decoding, and a slow one is not waited for.
 *
 * @example
 * ```ts
 * const verdict = await checkTwilio(request, 64 * 1024, { authToken, publicBaseUrl, enabled: true }, log);
 * if (verdict instanceof Response) return verdict;
 * ```
 */
export async function checkTwilio(
  request: Request,
  bodyLimit: BodyLimit,
  signature: TwilioSignatureSettings,
  log: Logger,
): Promise<Response | { form: Record<string, string> }> {
  const websocket = bodyLimit === "websocket";
  const check = {
    authToken: signature.authToken,
    enabled: signature.enabled,
    publicBaseUrl: websocket
      ? signature.publicInstanceUrl ?? signature.publicBaseUrl
      : signature.publicBaseUrl,
    websocket,
    log,
  };
  if (typeof bodyLimit === "number") {
    // Refused whatever the form holds (unsigned, or nothing to check with): the body is never read.
    const refused = refuseUnsignedBeforeForm(request, check);
    if (refused !== undefined) {
      await request.body?.cancel().catch(() => {});
      return refused;
    }
  }
  const form: Record<string, string> = {};
  if (typeof bodyLimit === "number") {
    const body = await readBodyText(request, bodyLimit);
    if (!body.ok) {
      const error = body.status === 413 ? `Twilio form body is larger than ${bodyLimit} bytes` : body.error;
      log.warnRateLimited(
        body.status === 413 ? "twilio-form-size" : "twilio-form-encoding",
        `Refused ${redactStreamPath(new URL(request.url).pathname)}: ${error}`,
      );
      return jsonError(body.status, error);
    }
    for (const [name, value] of new URLSearchParams(body.text)) form[name] = value;
  }
  return refuseUnsignedTwilio(request, { ...check, params: form }) ?? { form };
}
