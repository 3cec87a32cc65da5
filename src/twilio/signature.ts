/**
 * Twilio request signatures: checks `X-Twilio-Signature` on webhooks and on the Media Stream's
 * WebSocket upgrade, and says why a check failed in terms a user can act on.
 *
 * Twilio signs the public URL it requested (query included) plus the sorted POST parameters. Behind
 * ngrok the local URL differs, so the URL is rebuilt from `PUBLIC_BASE_URL` and the request's own
 * path and query. For the socket, Twilio signs the exact `wss://` URL it was given, with no body
 * parameters; its security guide advises also trying the URL with a trailing `/`.
 *
 * @module
 */

import { validateRequest } from "twilio/lib/webhooks/webhooks.js";
import { readBodyText } from "../http/body.ts";
import { jsonError } from "../http/responses.ts";
import type { Logger } from "../log.ts";
import { redactStreamPath } from "./stream_token.ts";

/** Largest webhook form body accepted, in bytes. Twilio's callbacks are a few KiB. */
export const MAX_TWILIO_FORM_BYTES = 64 * 1024;

/** Options for {@linkcode checkTwilioSignature}. */
export interface TwilioSignatureOptions {
  /** TWILIO_AUTH_TOKEN; undefined refuses every request while the check is on. */
  authToken: string | undefined;
  /** PUBLIC_BASE_URL: the https origin Twilio calls, without trailing slash. */
  publicBaseUrl: string | undefined;
  /** TWILIO_SIGNATURE_CHECK; false accepts every request. */
  enabled: boolean;
  /** The webhook's POST form parameters (from {@linkcode readTwilioForm}); empty for the socket. */
  params: Record<string, string>;
  /** True for the Media Stream upgrade request: the signed URL is `wss://…`. @default false */
  websocket?: boolean;
}

/** Why a signature check refused a request: one code per diagnosis, stable for rate-limiting and tests. */
export type SignatureRefusal =
  | "auth_token_unset"
  | "public_url_unset"
  | "missing_signature"
  | "signature_mismatch"
  | "signature_mismatch_url"
  | "signature_mismatch_token";

/** Outcome of {@linkcode checkTwilioSignature}: on refusal, its code and a reason to log that names the fix. */
export type TwilioSignatureResult = { ok: true } | { ok: false; code: SignatureRefusal; reason: string };

/**
 * Checks that `req` was signed by Twilio with `authToken`. Answer 403 when it returns `ok: false`,
 * and log `reason` (it may name the configured URL, so it is for the log, not the response).
 *
 * @example
 * ```ts
 * const params = await readTwilioForm(req);
 * const check = checkTwilioSignature(req, {
 *   authToken: config.twilioAuthToken,
 *   publicBaseUrl: config.publicBaseUrl,
 *   enabled: config.twilioSignatureCheck,
 *   params,
 * });
 * if (!check.ok) {
 *   log.warn(check.reason);
 *   return new Response("Forbidden", { status: 403 });
 * }
 * ```
 */
export function checkTwilioSignature(req: Request, options: TwilioSignatureOptions): TwilioSignatureResult {
  if (!options.enabled) return { ok: true };
  const websocket = options.websocket ?? false;
  const target = requestTarget(req.url);
  // Logged: a stream URL's token is shortened (an unused one opens a call's socket).
  const path = redactStreamPath(target.replace(/\?.*$/, ""));

  const signed = signedRequest(req, path, options);
  if (!signed.ok) return signed;
  const origin = websocket ? `wss://${signed.publicUrl.host}` : signed.publicUrl.origin;
  const urls = candidates(origin + target, websocket);
  if (signedBy(signed.authToken, signed.signature, urls, options.params)) return { ok: true };
  return diagnoseMismatch(req, { ...signed, path, target, websocket, params: options.params });
}

/** What a check holds once it can compare signatures: the token, the public URL, the signature sent. */
interface SignedRequest {
  ok: true;
  authToken: string;
  publicUrl: URL;
  signature: string;
}

/** Refuses before any comparison when the token or public URL is not configured or the request is unsigned. */
function signedRequest(req: Request, path: string, options: TwilioSignatureOptions): SignedRequest | Refusal {
  const { authToken, publicBaseUrl } = options;
  if (authToken === undefined || authToken === "") {
    return refuse(
      "auth_token_unset",
      `Cannot check the Twilio signature on ${path}: TWILIO_AUTH_TOKEN is not set: set TWILIO_AUTH_TOKEN ` +
        "to your account's auth token (or TWILIO_SIGNATURE_CHECK=off for local experiments only)",
    );
  }
  const publicUrl = publicBaseUrl === undefined ? undefined : tryUrl(publicBaseUrl);
  if (publicUrl === undefined) {
    return refuse(
      "public_url_unset",
      `Cannot check the Twilio signature on ${path}: PUBLIC_BASE_URL is not set: set it to the https URL ` +
        "Twilio calls (the ngrok URL), or start ngrok so it can be discovered",
    );
  }
  const signature = req.headers.get("x-twilio-signature");
  if (signature === null || signature === "") {
    return refuse(
      "missing_signature",
      `Refused ${path}: missing signature (no X-Twilio-Signature header): the request did not come from Twilio ` +
        "(or a proxy in front of Parley strips the header)",
    );
  }
  return { ok: true, authToken, publicUrl, signature };
}

/** A signed request whose signature matched no URL, and what the diagnosis needs to know of it. */
interface Mismatch extends SignedRequest {
  /** The request's path, shortened for the log. */
  path: string;
  /** Path and query exactly as the request carried them. */
  target: string;
  websocket: boolean;
  params: Record<string, string>;
}

/**
 * Says why a signature did not match: Twilio called another host or scheme than PUBLIC_BASE_URL
 * says (and whether the signature is valid for the URL it called), or the signing token differs.
 */
function diagnoseMismatch(req: Request, mismatch: Mismatch): Refusal {
  const { path, target, websocket, publicUrl, authToken, signature, params } = mismatch;
  const calledHost = observedHost(req) ?? publicUrl.host;
  if (!req.headers.has("x-forwarded-host") && isLoopback(calledHost)) {
    // A tunnel that rewrites the Host header hides the public host: both causes stay possible.
    return refuse(
      "signature_mismatch",
      `Refused ${path}: Twilio signature mismatch: either PUBLIC_BASE_URL (${publicUrl.origin}) is not the ` +
        "URL Twilio uses (set it to that URL) or TWILIO_AUTH_TOKEN is not the token of the account that " +
        "owns the number (check it)",
    );
  }
  const calledProto = req.headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
  const sameHost =
    normalizeHost(calledHost, publicUrl.protocol) === normalizeHost(publicUrl.host, publicUrl.protocol);
  const plainScheme = calledProto === "http" || calledProto === "ws";
  if (!sameHost || plainScheme) {
    const schemes = websocket ? ["wss", "ws"] : ["https", "http"];
    const matching = schemes
      .flatMap((scheme) => candidates(`${scheme}://${calledHost}${target}`, websocket))
      .find((url) => signedBy(authToken, signature, [url], params));
    const calledUrl = `${plainScheme ? calledProto : websocket ? "wss" : "https"}://${calledHost}`;
    const evidence = matching === undefined
      ? ""
      : ` (the signature is valid for ${shownUrl(matching)}, so TWILIO_AUTH_TOKEN is right)`;
    return refuse(
      "signature_mismatch_url",
      `Refused ${path}: Twilio signature mismatch, likely a URL mismatch: PUBLIC_BASE_URL is ` +
        `${publicUrl.origin} but Twilio called ${calledUrl}${evidence}: set PUBLIC_BASE_URL to the URL ` +
        "Twilio uses (and point the number's webhook at it with deno task setup-number)",
    );
  }
  return refuse(
    "signature_mismatch_token",
    `Refused ${path}: Twilio signature mismatch: the request came to ${publicUrl.host} as PUBLIC_BASE_URL ` +
      "says, so the signing token differs: check TWILIO_AUTH_TOKEN matches the account that owns the " +
      "number (or the request was not sent by Twilio)",
  );
}

/** `url` for a log line: no query, and a stream URL's token shortened (an unused one opens a call's socket). */
function shownUrl(url: string): string {
  const { protocol, host, pathname } = new URL(url);
  return `${protocol}//${host}${redactStreamPath(pathname)}`;
}

/** Options for {@linkcode refuseUnsignedTwilio}: the check's, and where refusals are logged. */
export interface RefuseUnsignedOptions extends TwilioSignatureOptions {
  log: Logger;
}

/**
 * The check every Twilio route runs first: undefined when `req` is signed, else the 403 to answer,
 * after logging the diagnosis. Each diagnosis has its own rate-limit budget, shared by every route,
 * so a flood of one kind never hides a different one.
 *
 * @example
 * ```ts
 * const refused = refuseUnsignedTwilio(req, { authToken, publicBaseUrl, params: form, log });
 * if (refused !== undefined) return refused;
 * ```
 */
export function refuseUnsignedTwilio(req: Request, options: RefuseUnsignedOptions): Response | undefined {
  return refusal(checkTwilioSignature(req, options), options.log);
}

/**
 * The refusals {@linkcode refuseUnsignedTwilio} makes whatever the form holds (no token or public URL
 * to check with, no `X-Twilio-Signature` header): the same 403 and log line, before the body is read.
 * Undefined when the request is to be read and checked with its form.
 *
 * @example
 * ```ts
 * const refused = refuseUnsignedBeforeForm(req, { authToken, publicBaseUrl, enabled: true, log });
 * if (refused !== undefined) return refused; // its body never read
 * ```
 */
export function refuseUnsignedBeforeForm(
  req: Request,
  options: Omit<RefuseUnsignedOptions, "params">,
): Response | undefined {
  if (!options.enabled) return undefined;
  const path = redactStreamPath(requestTarget(req.url).replace(/\?.*$/, ""));
  return refusal(signedRequest(req, path, { ...options, params: {} }), options.log);
}

/** The 403 of a refused check, its diagnosis logged (a rate-limit budget per kind); else undefined. */
function refusal(verdict: TwilioSignatureResult | SignedRequest, log: Logger): Response | undefined {
  if (verdict.ok) return undefined;
  log.warnRateLimited(`twilio-signature:${verdict.code}`, verdict.reason);
  return jsonError(403, "Twilio signature check failed");
}

/** Raised by {@linkcode readTwilioForm} for a body larger than {@linkcode MAX_TWILIO_FORM_BYTES}. */
export class TwilioFormTooLargeError extends Error {
  /** Builds the error. */
  constructor() {
    super(`Twilio form body is larger than ${MAX_TWILIO_FORM_BYTES} bytes`);
    this.name = "TwilioFormTooLargeError";
  }
}

/**
 * Reads a webhook's `application/x-www-form-urlencoded` body once, as a record (the last value wins
 * for a repeated name). An empty body gives `{}`.
 *
 * @example
 * ```ts
 * const params = await readTwilioForm(req); // { CallSid: "CA…", CallStatus: "ringing", … }
 * ```
 * @throws {TwilioFormTooLargeError} when the body exceeds {@linkcode MAX_TWILIO_FORM_BYTES}.
 * @throws {Error} when the body is not UTF-8, naming the offset of the first bad byte.
 */
export async function readTwilioForm(req: Request): Promise<Record<string, string>> {
  const body = await readBodyText(req, MAX_TWILIO_FORM_BYTES);
  if (!body.ok && body.status === 413) throw new TwilioFormTooLargeError();
  if (!body.ok) throw new Error(body.error); // not UTF-8
  const text = body.text;
  const params: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(text)) params[name] = value;
  return params;
}

/** A refusal: the `ok: false` side of {@linkcode TwilioSignatureResult}. */
type Refusal = Extract<TwilioSignatureResult, { ok: false }>;

function refuse(code: SignatureRefusal, reason: string): Refusal {
  return { ok: false, code, reason };
}

function signedBy(
  authToken: string,
  signature: string,
  urls: string[],
  params: Record<string, string>,
): boolean {
  return urls.some((url) => {
    try {
      return validateRequest(authToken, signature, url, params);
    } catch {
      return false; // a URL `new URL()` rejects cannot be the one Twilio signed
    }
  });
}

/** The URL as given, and for the socket also with a trailing `/` on its path (Twilio's advice). */
function candidates(url: string, websocket: boolean): string[] {
  if (!websocket) return [url];
  const query = url.indexOf("?");
  const base = query === -1 ? url : url.slice(0, query);
  const rest = query === -1 ? "" : url.slice(query);
  return base.endsWith("/") ? [url] : [url, `${base}/${rest}`];
}

/** Path and query exactly as the request carried them: `new URL()` would re-encode some characters. */
function requestTarget(url: string): string {
  const target = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, "").replace(/#.*$/, "");
  return target === "" ? "/" : target.startsWith("?") ? `/${target}` : target;
}

/** The host the client asked for: the proxy's `X-Forwarded-Host` first, then `Host`. */
function observedHost(req: Request): string | undefined {
  const forwarded = req.headers.get("x-forwarded-host")?.split(",")[0]?.trim();
  if (forwarded !== undefined && forwarded !== "") return forwarded;
  const host = req.headers.get("host")?.trim();
  if (host !== undefined && host !== "") return host;
  return tryUrl(req.url)?.host;
}

function isLoopback(host: string): boolean {
  const name = host.toLowerCase().replace(/:\d+$/, "");
  return name === "localhost" || name === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

function normalizeHost(host: string, protocol: string): string {
  const lower = host.toLowerCase();
  const defaultPort = protocol === "http:" ? ":80" : ":443";
  return lower.endsWith(defaultPort) ? lower.slice(0, -defaultPort.length) : lower;
}

function tryUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
