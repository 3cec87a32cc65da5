/**
 * JSON responses for Parley's own HTTP API: one shape for success bodies and one for errors
 * (`{ "error": "<message>" }`), so every route answers alike.
 *
 * @module
 */

/** Extra response settings for {@linkcode jsonResponse} and {@linkcode jsonError}. */
export interface JsonResponseOptions {
  /** Headers added to the JSON content type (e.g. `WWW-Authenticate`, `Allow`). */
  headers?: HeadersInit;
}

/**
 * Answers `status` with `body` serialized as JSON. Responses are never cached: they describe calls
 * and configuration that change.
 *
 * @example
 * ```ts
 * return jsonResponse(201, { callSid, persona });
 * ```
 */
export function jsonResponse(status: number, body: unknown, options: JsonResponseOptions = {}): Response {
  const headers = new Headers(options.headers);
  headers.set("content-type", "application/json; charset=utf-8");
  headers.set("cache-control", "no-store");
  return new Response(JSON.stringify(body), { status, headers });
}

/**
 * Answers `status` with `{ "error": message }`. The message names the field or the setting to fix.
 *
 * @example
 * ```ts
 * return jsonError(400, 'Field "to": "555" is not an E.164 number like +14155550100');
 * ```
 */
export function jsonError(status: number, message: string, options: JsonResponseOptions = {}): Response {
  return jsonResponse(status, { error: message }, options);
}
