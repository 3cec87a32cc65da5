/**
 * The address a request came from, for per-client limits and log lines.
 *
 * `Deno.serve` gives the TCP peer. Behind a proxy that peer is the proxy, and the client is in
 * `X-Forwarded-For`, which each proxy appends its own peer to. Only a trusted proxy's header is
 * believed (loopback, such as ngrok on this machine, and `TRUSTED_PROXIES`): the client is the
 * right-most hop that is not itself a trusted proxy, so whatever a client writes to the left of
 * that is ignored. A header from any other peer is not read at all.
 *
 * @module
 */

import { formatIp, type IpAddress, type IpRange, parseHop, parseIp } from "./ip_address.ts";
import { isTrustedProxy } from "./trusted_proxies.ts";

/**
 * The client address of a request served with `info`, in canonical form (`2001:db8::7`; an
 * IPv4-mapped peer as its IPv4), believing `X-Forwarded-For` only from loopback and `trusted`.
 *
 * @example
 * ```ts
 * Deno.serve((request, info) => new Response(clientAddress(request, info, trustedProxies)));
 * ```
 */
export function clientAddress(
  request: Request,
  info: Deno.ServeHandlerInfo | undefined,
  trusted: readonly IpRange[] = [],
): string {
  const remote = info?.remoteAddr;
  const hostname = remote !== undefined && "hostname" in remote ? remote.hostname : "unknown";
  const peer = parseIp(hostname);
  if (peer === undefined) return hostname.replace(/[^\x21-\x7e]/g, "?").slice(0, 64);
  let nearest: IpAddress = peer;
  if (!isTrustedProxy(nearest, trusted)) return formatIp(nearest);
  const hops = request.headers.get("x-forwarded-for")?.split(",") ?? [];
  for (let i = hops.length - 1; i >= 0; i--) {
    const text = hops[i]!.trim();
    if (text === "") continue;
    const hop = parseHop(text);
    // Not an address: the proxy that wrote it is the last one known.
    if (hop === undefined) break;
    nearest = hop;
    if (!isTrustedProxy(hop, trusted)) break;
  }
  return formatIp(nearest);
}

/**
 * The peer's address when it sent `X-Forwarded-For` but is no trusted proxy (so the header was
 * ignored); undefined otherwise. A proxy on another host missing from `TRUSTED_PROXIES` shows here.
 */
export function untrustedForwarder(
  request: Request,
  info: Deno.ServeHandlerInfo | undefined,
  trusted: readonly IpRange[] = [],
): string | undefined {
  if (!request.headers.has("x-forwarded-for")) return undefined;
  const remote = info?.remoteAddr;
  const peer = parseIp(remote !== undefined && "hostname" in remote ? remote.hostname : "");
  return peer === undefined || isTrustedProxy(peer, trusted) ? undefined : formatIp(peer);
}
