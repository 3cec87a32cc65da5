/**
 * Finds the public https URL of a running ngrok agent, so `PUBLIC_BASE_URL` can be left unset
 * during development. Asks the agent's local API (`GET <api>/api/tunnels`), waiting at most about a
 * second: an agent that is not running must not delay startup.
 *
 * @module
 */

/** How long to wait for the agent API, in milliseconds. */
export const NGROK_DISCOVERY_TIMEOUT_MS = 1_000;

/** Options for {@linkcode discoverNgrokUrl}. */
export interface DiscoverNgrokOptions {
  /** Prefer the tunnel forwarding to this local port (Parley's PORT). */
  port?: number;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Bound on the whole lookup. @default NGROK_DISCOVERY_TIMEOUT_MS */
  timeoutMs?: number;
}

/**
 * Returns the https `public_url` of the agent at `apiUrl` (e.g. `http://127.0.0.1:4040`), without
 * trailing slash: the tunnel whose `config.addr` forwards to `options.port` when there is one, else
 * the first https tunnel. Undefined when the agent does not answer in time, answers an error or
 * something unexpected, or has no https tunnel.
 *
 * @example
 * ```ts
 * const url = await discoverNgrokUrl(config.ngrokApiUrl, { port: config.port });
 * // "https://abc123.ngrok-free.app" or undefined
 * ```
 */
export async function discoverNgrokUrl(
  apiUrl: string,
  options: DiscoverNgrokOptions = {},
): Promise<string | undefined> {
  const fetchFn = options.fetch ?? fetch;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? NGROK_DISCOVERY_TIMEOUT_MS);
  let body: unknown;
  try {
    const response = await fetchFn(`${apiUrl.replace(/\/+$/, "")}/api/tunnels`, {
      headers: { accept: "application/json" },
      signal: controller.signal,
    });
    const text = await response.text();
    if (!response.ok) return undefined;
    body = JSON.parse(text);
  } catch {
    return undefined; // not running, too slow, or not an ngrok agent: same answer
  } finally {
    clearTimeout(timer);
  }

  if (!isRecord(body) || !Array.isArray(body.tunnels)) return undefined;
  const https = body.tunnels.filter(isRecord).flatMap((tunnel) => {
    const url = tunnel.public_url;
    if (typeof url !== "string" || !url.startsWith("https://")) return [];
    const addr = isRecord(tunnel.config) ? tunnel.config.addr : undefined;
    return [{ url: url.replace(/\/+$/, ""), port: typeof addr === "string" ? addrPort(addr) : undefined }];
  });
  const preferred = options.port === undefined ? undefined : https.find((t) => t.port === options.port);
  return (preferred ?? https[0])?.url;
}

/** The port of an ngrok `config.addr`: `http://localhost:4000`, `localhost:4000` or `4000`. */
function addrPort(addr: string): number | undefined {
  const match = /(?:^|:)(\d{1,5})\/?$/.exec(addr.trim());
  if (match !== null) return Number(match[1]);
  if (addr.startsWith("https://")) return 443;
  if (addr.startsWith("http://")) return 80;
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
