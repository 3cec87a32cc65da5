/**
 * IP addresses and CIDR ranges as Parley reads them: a peer's address, an `X-Forwarded-For` hop, a
 * `TRUSTED_PROXIES` entry. Strict parsing (no leading zeros, no host names), one canonical text per
 * address (IPv6 as RFC 5952 writes it; an IPv4-mapped IPv6 address as its IPv4), and the block a
 * client is throttled as.
 *
 * @module
 */

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address. */
export interface IpAddress {
  version: 4 | 6;
  bytes: Uint8Array;
}

/** A CIDR range: the addresses whose first `prefix` bits are those of `base`. */
export interface IpRange {
  base: IpAddress;
  prefix: number;
}

/**
 * `text` as an address (an IPv6 zone such as `%eth0` is dropped; `::ffff:a.b.c.d` is IPv4), or
 * undefined when it is not one.
 *
 * @example
 * ```ts
 * formatIp(parseIp("2001:DB8:0::1")!); // "2001:db8::1"
 * ```
 */
export function parseIp(text: string): IpAddress | undefined {
  if (text.length > 64) return undefined;
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { version: 4, bytes: v4 };
  const v6 = parseIpv6(text.replace(/%[A-Za-z0-9_.-]{1,32}$/, ""));
  if (v6 === undefined) return undefined;
  const mapped = v6.slice(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  return mapped ? { version: 4, bytes: v6.slice(12) } : { version: 6, bytes: v6 };
}

/**
 * An `X-Forwarded-For` hop: an address, or one with a port as some proxies write it
 * (`203.0.113.7:51234`, `[2001:db8::1]:443`, `[2001:db8::1]`).
 */
export function parseHop(text: string): IpAddress | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  if (bracketed !== null) return parseIp(bracketed[1]!);
  const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(text);
  return parseIp(v4WithPort === null ? text : v4WithPort[1]!);
}

/** `text` as a range: an address (a range of one) or `address/prefix`; undefined when neither. */
export function parseIpRange(text: string): IpRange | undefined {
  const [address, bits, ...rest] = text.split("/");
  if (rest.length > 0 || address === undefined) return undefined;
  const base = parseIp(address);
  if (base === undefined) return undefined;
  const written = address.includes(":") ? 128 : 32;
  if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > written)) return undefined;
  // An IPv4-mapped range (::ffff:10.0.0.0/104) is the IPv4 range it maps.
  const prefix = (bits === undefined ? written : Number(bits)) -
    (written === 128 && base.version === 4 ? 96 : 0);
  return prefix < 0 ? undefined : { base, prefix };
}

/** Whether `address` is in `range`. */
export function inRange(address: IpAddress, range: IpRange): boolean {
  if (address.version !== range.base.version) return false;
  const whole = Math.floor(range.prefix / 8);
  for (let i = 0; i < whole; i++) if (address.bytes[i] !== range.base.bytes[i]) return false;
  const rest = range.prefix % 8;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (address.bytes[whole]! & mask) === (range.base.bytes[whole]! & mask);
}

/** Whether `address` is a loopback address (127.0.0.0/8, ::1). */
export function isLoopback(address: IpAddress): boolean {
  return address.version === 4
    ? address.bytes[0] === 127
    : address.bytes.every((b, i) => b === (i === 15 ? 1 : 0));
}

/** The canonical text of `address`: dotted IPv4, or IPv6 with its longest zero run as `::`. */
export function formatIp(address: IpAddress): string {
  if (address.version === 4) return address.bytes.join(".");
  const groups = Array.from(
    { length: 8 },
    (_, i) => (address.bytes[2 * i]! << 8) | address.bytes[2 * i + 1]!,
  );
  let bestStart = -1, bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (part: number[]) => part.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/**
 * The block a client address is counted as by per-client limits: an IPv4 address itself, an IPv6
 * address's /64 (one subscriber's network, whose addresses an attacker can rotate through freely),
 * e.g. `2001:db8:1:2::/64`. Text that is no address stays itself.
 */
export function clientBlock(address: string): string {
  const ip = parseIp(address);
  if (ip === undefined || ip.version === 4) return ip === undefined ? address : formatIp(ip);
  const network = new Uint8Array(16);
  network.set(ip.bytes.slice(0, 8));
  return `${formatIp({ version: 6, bytes: network })}/64`;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  if (!parts.every((part) => /^(0|[1-9]\d{0,2})$/.test(part) && Number(part) <= 255)) return undefined;
  return Uint8Array.from(parts, Number);
}

function parseIpv6(text: string): Uint8Array | undefined {
  if (!/^[0-9A-Fa-f:.]{2,45}$/.test(text)) return undefined;
  let rest = text;
  const tail: number[] = [];
  if (rest.includes(".")) {
    const lastColon = rest.lastIndexOf(":");
    const v4 = parseIpv4(rest.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    rest = rest.slice(0, lastColon + 1);
    if (!rest.endsWith("::")) rest = rest.slice(0, -1);
  }
  const halves = rest.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (half: string) => half === "" ? [] : half.split(":");
  const head = groupsOf(halves[0]!);
  const after = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (![...head, ...after].every((group) => /^[0-9A-Fa-f]{1,4}$/.test(group))) return undefined;
  const given = head.length + after.length + tail.length;
  if (halves.length === 2 ? given > 7 : given !== 8) return undefined;
  const groups = [
    ...head.map((g) => parseInt(g, 16)),
    ...Array<number>(8 - given).fill(0),
    ...after.map((g) => parseInt(g, 16)),
    ...tail,
  ];
  return Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
}
