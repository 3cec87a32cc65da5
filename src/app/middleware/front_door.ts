/**
 * What every request goes through before and after its route: the client's address, the
 * token-guessing throttle, and the security headers. One wrapper, so it can become the route
 * table's middleware.
 *
 * @module
 */

import type { Logger } from "../../log.ts";
import { createAuthThrottle } from "../../http/auth_throttle.ts";
import { clientAddress, untrustedForwarder } from "../../http/client_address.ts";
import type { IpRange } from "../../http/ip_address.ts";
import { withSecurityHeaders } from "../../http/security_headers.ts";

/** A request handler as `Deno.serve` calls it. */
export type ServeHandler = (request: Request, info?: Deno.ServeHandlerInfo) => Promise<Response>;

/** Options for {@linkcode guardRequests}. */
export interface FrontDoorOptions {
  log: Logger;
  /** `TRUSTED_PROXIES`: peers besides loopback whose `X-Forwarded-For` names the client. @default none */
  trustedProxies?: readonly IpRange[];
}

/**
 * Wraps `route`: a client blocked for failed attempts gets 429 before its request is read; a 401
 * to an attempt counts against its address (with a hint when a peer not in `TRUSTED_PROXIES` sent
 * `X-Forwarded-For`); every answer carries the security headers.
 *
 * @example
 * ```ts
 * Deno.serve(guardRequests(route, { log }));
 * ```
 */
export function guardRequests(
  route: (request: Request) => Promise<Response>,
  options: FrontDoorOptions,
): ServeHandler {
  const throttle = createAuthThrottle({ log: options.log });
  const trustedProxies = options.trustedProxies ?? [];
  // When a refusal counts against a peer whose X-Forwarded-For was ignored, say how to fix it.
  const hintUntrustedProxy = (request: Request, info: Deno.ServeHandlerInfo | undefined) => {
    const forwarder = untrustedForwarder(request, info, trustedProxies);
    if (forwarder === undefined) return;
    options.log.warnRateLimited(
      "untrusted-forwarder",
      `Ignored X-Forwarded-For from ${forwarder}, which is not in TRUSTED_PROXIES: if it is your proxy, ` +
        "list it there, or every client behind it shares one limit of failed sign-ins and tokens",
    );
  };
  return async (request, info) => {
    const client = clientAddress(request, info, trustedProxies);
    const refused = throttle.refuse(request, client);
    if (refused !== undefined) {
      await request.body?.cancel().catch(() => {});
      hintUntrustedProxy(request, info);
      return withSecurityHeaders(refused);
    }
    const response = await route(request);
    throttle.record(request, client, response);
    if (response.status === 401) hintUntrustedProxy(request, info);
    return withSecurityHeaders(response);
  };
}
