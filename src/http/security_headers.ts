/**
 * Security headers on every response Parley sends: the pages are plain same-origin files (no inline
 * script or style, no CDN), so the policy allows only this origin, and nothing may frame them.
 *
 * @module
 */

/**
 * The Content-Security-Policy of every response. `connect-src 'self'` covers the softphone's
 * WebSocket to this origin; the AudioWorklet module is a same-origin script.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "media-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** The headers {@linkcode withSecurityHeaders} sets. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  // The Origin/Referer check of state-changing requests still sees same-origin referrers.
  "referrer-policy": "same-origin",
};

/**
 * Returns `response` with the security headers set (a WebSocket upgrade is left as it is). A
 * response whose headers are immutable is copied.
 *
 * @example
 * ```ts
 * Deno.serve(async (request) => withSecurityHeaders(await route(request)));
 * ```
 */
export function withSecurityHeaders(response: Response): Response {
  if (response.status === 101) return response;
  try {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.headers.set(name, value);
    return response;
  } catch {
    const headers = new Headers(response.headers);
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) headers.set(name, value);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }
}
