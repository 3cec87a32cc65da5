/**
 * Slows token guessing: per client (an IPv4 address, or an IPv6 address's /64, see
 * {@linkcode clientBlock}), failed sign-ins (`POST /login`) and requests with a wrong bearer token
 * are counted; after {@linkcode MAX_AUTH_FAILURES} in {@linkcode AUTH_FAILURE_WINDOW_MS}, that
 * client's next attempts get 429 with `Retry-After` until the window ends, before anything is
 * checked or read. Failures are logged, rate-limited, with the address and never the token offered.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { jsonError } from "./responses.ts";
import { FailureLimiter } from "./rate_limit.ts";
import { clientBlock } from "./ip_address.ts";

/** Failed attempts allowed per client (address, or IPv6 /64) in one window. */
export const MAX_AUTH_FAILURES = 10;
/** The window, ms, from a client's first failure. */
export const AUTH_FAILURE_WINDOW_MS = 60_000;

/** Options for {@linkcode createAuthThrottle}. */
export interface AuthThrottleOptions {
  log: Logger;
  /** @default MAX_AUTH_FAILURES */
  maxFailures?: number;
  /** @default AUTH_FAILURE_WINDOW_MS */
  windowMs?: number;
  /** Clock, epoch ms. @default Date.now */
  now?: () => number;
}

/** The throttle's two steps around a request. */
export interface AuthThrottle {
  /** 429 when `client` is blocked and `request` tries to authenticate; else undefined. */
  refuse(request: Request, client: string): Response | undefined;
  /** Counts (and logs) a failure when `request` tried to authenticate and got 401. */
  record(request: Request, client: string, response: Response): void;
}

/**
 * Builds the throttle.
 *
 * @example
 * ```ts
 * const throttle = createAuthThrottle({ log });
 * const refused = throttle.refuse(request, client) ?? await route(request);
 * ```
 */
export function createAuthThrottle(options: AuthThrottleOptions): AuthThrottle {
  const { log } = options;
  const maxFailures = options.maxFailures ?? MAX_AUTH_FAILURES;
  const windowMs = options.windowMs ?? AUTH_FAILURE_WINDOW_MS;
  const limiter = new FailureLimiter({
    maxFailures,
    windowMs,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const windowS = Math.round(windowMs / 1000);
  return {
    refuse(request, client) {
      const kind = attemptKind(request);
      if (kind === undefined) return undefined;
      const block = clientBlock(client);
      const retryAfterS = limiter.retryAfterS(block);
      if (retryAfterS === 0) return undefined;
      const from = block === client ? client : `${client} (network ${block})`;
      log.warnRateLimited(
        "auth-blocked",
        `Refused ${kind} from ${from} for ${retryAfterS} s: ${maxFailures} failed attempts in ${windowS} s`,
      );
      return tooMany(request, retryAfterS);
    },
    record(request, client, response) {
      if (response.status !== 401) return;
      const kind = attemptKind(request);
      if (kind === undefined) return;
      const failures = limiter.fail(clientBlock(client));
      const path = new URL(request.url).pathname.slice(0, 80);
      log.warnRateLimited(
        `auth-failed-${kind}`,
        `Failed ${kind} from ${client}${kind === "sign-in" ? "" : ` on ${request.method} ${path}`} ` +
          `(${failures} of ${maxFailures} allowed in ${windowS} s)`,
      );
    },
  };
}

/** What the request tries: a sign-in, a bearer token, or nothing to count. */
function attemptKind(request: Request): "sign-in" | "bearer token" | undefined {
  if (request.method === "POST" && new URL(request.url).pathname === "/login") return "sign-in";
  return request.headers.has("authorization") ? "bearer token" : undefined;
}

function tooMany(request: Request, retryAfterS: number): Response {
  const headers = { "retry-after": String(retryAfterS) };
  const message = `Too many failed sign-ins or tokens from this address: try again in ${retryAfterS} s`;
  if (new URL(request.url).pathname !== "/login") return jsonError(429, message, { headers });
  return new Response(
    `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Too many attempts · Parley</title><link rel="stylesheet" href="/web/app.css"></head>
<body><main><h1>Too many attempts</h1><p class="error" role="alert">⚠ ${message}.</p></main></body>
</html>
`,
    {
      status: 429,
      headers: { ...headers, "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
    },
  );
}
