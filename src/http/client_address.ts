/**
 * The address a request came from, for per-client limits and log lines.
 *
 * `Deno.serve` gives the TCP peer. Behind ngrok (or another proxy on this machine) that peer is the
 * loopback address, and the client is the last hop the proxy appended to `X-Forwarded-For`; a
 * header from any other peer is not trusted.
 *
 * @module
 */

/**
 * The client address of a request served with `info`.
 *
 * @example
 * ```ts
 * Deno.serve((request, info) => new Response(clientAddress(request, info)));
 * ```
 */
export function clientAddress(request: Request, info: Deno.ServeHandlerInfo | undefined): string {
  const peer = info?.remoteAddr;
  const hostname = peer !== undefined && "hostname" in peer ? peer.hostname : "unknown";
  if (!isLoopback(hostname)) return hostname;
  const forwarded = request.headers.get("x-forwarded-for");
  const last = forwarded?.split(",").map((hop) => hop.trim()).filter((hop) => hop !== "").pop();
  return last !== undefined && /^[0-9A-Fa-f:.]{2,45}$/.test(last) ? last : hostname;
}

function isLoopback(hostname: string): boolean {
  return hostname === "::1" || hostname.startsWith("127.") || hostname.startsWith("::ffff:127.");
}
