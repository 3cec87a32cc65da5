/**
 * `TRUSTED_PROXIES`: the proxies (load balancers, a Caddy on another host) whose `X-Forwarded-For`
 * Parley believes. Loopback is always trusted (ngrok or a proxy on this machine); any other peer is a
 * client, and what it writes in `X-Forwarded-For` is ignored.
 *
 * @module
 */

import { inRange, type IpAddress, type IpRange, isLoopback, parseIpRange } from "./ip_address.ts";

/**
 * Reads `TRUSTED_PROXIES`: addresses and CIDR ranges separated by commas (`10.0.0.5, 10.0.1.0/24,
 * fd00::/8`); none when unset. Each bad entry adds a problem naming the variable and the entry.
 *
 * @example
 * ```ts
 * const problems: string[] = [];
 * const trusted = parseTrustedProxies("10.0.0.0/8", problems);
 * ```
 */
export function parseTrustedProxies(value: string | undefined, problems: string[]): IpRange[] {
  if (value === undefined) return [];
  const ranges: IpRange[] = [];
  for (const entry of value.split(",").map((part) => part.trim()).filter((part) => part !== "")) {
    const range = parseIpRange(entry);
    if (range !== undefined) {
      ranges.push(range);
      continue;
    }
    problems.push(
      `TRUSTED_PROXIES: "${entry.replace(/[^\x20-\x7e]/g, "?").slice(0, 60)}" is not an IP address or CIDR ` +
        "range: list your proxies' addresses or ranges, separated by commas (e.g. 10.0.0.5, 10.0.1.0/24, fd00::/8; " +
        "no host names)",
    );
  }
  return ranges;
}

/** Whether `address` is a proxy whose `X-Forwarded-For` is believed: loopback, or in `trusted`. */
export function isTrustedProxy(address: IpAddress, trusted: readonly IpRange[]): boolean {
  return isLoopback(address) || trusted.some((range) => inRange(address, range));
}
