/**
 * How one environment variable's text becomes a value, for `config.ts`: each parser returns the value
 * or the fallback, and adds a line naming the variable to `problems` when the text is wrong.
 *
 * @module
 */

/** True for an E.164 phone number: `+`, then 8 to 15 digits, the first not 0. */
export function isE164(value: string): boolean {
  return /^\+[1-9][0-9]{7,14}$/.test(value);
}

/** `PORT`: 0 to 65535, default 4000. */
export function parsePort(value: string | undefined, problems: string[]): number {
  if (value === undefined) return 4000;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    problems.push(`PORT: "${value}" is not a port number (0 to 65535)`);
    return 4000;
  }
  return port;
}

/** Default `HOST`: every IPv4 interface (a reverse proxy or container reaches it; so does ngrok). */
export const DEFAULT_HOST = "0.0.0.0";

/** `HOST`: an IPv4 or IPv6 address or a host name, default {@linkcode DEFAULT_HOST}. */
export function parseHost(value: string | undefined, problems: string[]): string {
  if (value === undefined) return DEFAULT_HOST;
  const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(value);
  const valid = ipv4 !== null
    ? ipv4.slice(1).every((part) => Number(part) <= 255)
    : /^[0-9A-Fa-f:.]+$/.test(value) && value.includes(":") ||
      /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(value);
  if (valid) return value;
  problems.push(
    `HOST: "${value}" is not an address to listen on: use 0.0.0.0 (every interface), 127.0.0.1 (this ` +
      "machine only), :: (every interface, IPv6 too) or one of this machine's addresses",
  );
  return DEFAULT_HOST;
}

/** A whole number, 0 or more. */
export function parseCount(
  name: string,
  value: string | undefined,
  fallback: number,
  problems: string[],
): number {
  if (value === undefined) return fallback;
  const count = Number(value);
  if (!Number.isSafeInteger(count) || count < 0) {
    problems.push(`${name}: "${value}" is not a whole number (0 or more)`);
    return fallback;
  }
  return count;
}

/** Minutes above 0 and below 60 (OpenAI's session cap), default 55. */
export function parseMinutes(name: string, value: string | undefined, problems: string[]): number {
  const fallback = 55;
  if (value === undefined) return fallback;
  const minutes = Number(value);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes >= 60) {
    problems.push(
      `${name}: "${value}" is not a number of minutes above 0 and below 60 (OpenAI's session cap)`,
    );
    return fallback;
  }
  return minutes;
}

/** On or off: 1/true/on/yes or 0/false/off/no. */
export function parseSwitch(
  name: string,
  value: string | undefined,
  fallback: boolean,
  problems: string[],
): boolean {
  if (value === undefined) return fallback;
  const lower = value.toLowerCase();
  if (["1", "true", "on", "yes"].includes(lower)) return true;
  if (["0", "false", "off", "no"].includes(lower)) return false;
  problems.push(`${name}: "${value}" is not on or off`);
  return fallback;
}

/**
 * `PUBLIC_BASE_URL` (or `name`, e.g. `PUBLIC_INSTANCE_URL`): an https origin, or undefined when unset.
 * Normalised as a URL's `origin` (host in lower case, no default port, no trailing `/`): the URLs given to
 * Twilio are built from it and Twilio signs them as given, while the signature check rebuilds them from
 * the parsed origin; the two must be the same text.
 */
export function parsePublicBaseUrl(
  value: string | undefined,
  problems: string[],
  name = "PUBLIC_BASE_URL",
): string | undefined {
  if (value === undefined) return undefined;
  const origin = value.replace(/\/+$/, "");
  const url = tryUrl(origin);
  if (url === undefined || url.protocol !== "https:") {
    problems.push(
      `${name}: "${origin}" is not an https URL: use the https address Twilio reaches, e.g. https://abc123.ngrok-free.app`,
    );
  } else if (url.pathname !== "/" || url.search !== "") {
    problems.push(`${name}: "${origin}" has a path or query: give only the origin`);
  } else {
    return url.origin;
  }
  return origin;
}

/** A persona id (a file name without `.ts`), or the fallback. */
export function parsePersonaId(
  name: string,
  value: string | undefined,
  fallback: string,
  problems: string[],
): string {
  const id = value ?? fallback;
  if (/^[A-Za-z0-9_-]+$/.test(id)) return id;
  problems.push(`${name}: "${id}" is not a persona id (a file name without .ts)`);
  return fallback;
}

/** `value` as a URL, or undefined when it is not one. */
export function tryUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/** RECORDING_RETENTION_DAYS: a number of days above 0, or unset (keep recordings). */
export function parseRetentionDays(value: string | undefined, problems: string[]): number | undefined {
  if (value === undefined) return undefined;
  const days = Number(value);
  if (!Number.isFinite(days) || days <= 0) {
    problems.push(
      `RECORDING_RETENTION_DAYS: "${value}" is not a number of days above 0: set how long recordings are kept, or remove it to keep them`,
    );
    return undefined;
  }
  return days;
}
