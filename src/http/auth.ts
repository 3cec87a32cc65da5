/**
 * Bearer-token checks for Parley's own HTTP API (`Authorization: Bearer $API_TOKEN`).
 *
 * The comparison takes the same time whatever the offered token, so the token cannot be guessed
 * one character at a time from response timings.
 *
 * @module
 */

import { jsonError } from "./responses.ts";

const encoder = new TextEncoder();

/**
 * True when `req` carries `Authorization: Bearer <token>` with exactly `token`. The scheme is
 * case-insensitive; the token is compared in constant time.
 *
 * @example
 * ```ts
 * if (!checkBearer(req, config.apiToken)) return new Response(null, { status: 401 });
 * ```
 */
export function checkBearer(req: Request, token: string): boolean {
  const header = req.headers.get("authorization");
  if (header === null || token === "") return false;
  const match = /^bearer[ \t]+(.+)$/i.exec(header.trim());
  if (match === null) return false;
  return tokenMatches(match[1]!.trim(), token);
}

/**
 * True when `offered` (a token typed in the sign-in form: any text) is exactly `token`, compared in
 * constant time.
 *
 * @example
 * ```ts
 * if (!tokenMatches(form.get("token") ?? "", config.apiToken)) return html(401, page);
 * ```
 */
export function tokenMatches(offered: string, token: string): boolean {
  if (token === "") return false;
  return constantTimeEqual(encoder.encode(offered), encoder.encode(token));
}

/**
 * Guards a route of Parley's API: answers 503 when `token` (API_TOKEN) is not configured, 401 with
 * `WWW-Authenticate: Bearer` when the request lacks the right token, or `undefined` to go on.
 *
 * @example
 * ```ts
 * const refused = requireBearer(req, config.apiToken);
 * if (refused !== undefined) return refused;
 * ```
 */
export function requireBearer(req: Request, token: string | undefined): Response | undefined {
  if (token === undefined || token === "") {
    return jsonError(
      503,
      "API_TOKEN is not set: set API_TOKEN in .env (openssl rand -hex 24) to use this API",
    );
  }
  if (checkBearer(req, token)) return undefined;
  const message = req.headers.has("authorization")
    ? "Wrong bearer token: send Authorization: Bearer <API_TOKEN>"
    : "Missing Authorization header: send Authorization: Bearer <API_TOKEN>";
  return jsonError(401, message, { headers: { "www-authenticate": 'Bearer realm="parley"' } });
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  // Walk the expected token's full length whatever was offered; the length difference is folded in.
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i] ?? 0) ^ b[i]!;
  return diff === 0;
}
