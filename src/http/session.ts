/**
 * Browser sign-in: a session cookie for the pages, beside the bearer token for scripts.
 *
 * Signing in with `API_TOKEN` creates a random session id kept in the store's
 * {@linkcode SignInSessions} (in memory with SQLite: a restart signs everyone out) and sent as an `HttpOnly; SameSite=Strict` cookie with an expiry. A request is allowed when
 * it carries the bearer token or a live session; a state-changing request that relies on the
 * cookie must also come from Parley's own origin (`Origin` header), so another site cannot use it.
 *
 * @module
 */

import { checkBearer, requireBearer } from "./auth.ts";
import { jsonError } from "./responses.ts";

/** The session cookie's name. */
export const SESSION_COOKIE = "parley_session";
/** How long a session lasts, ms (12 hours). */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Where sign-in sessions are kept, by their random id (the cookie's value): a storage port (see
 * `src/store/ports.ts`); one SQLite instance keeps them in memory, several instances share them.
 */
export interface SignInSessions {
  /** Keeps session `id` until `expiresAt` (epoch ms); `now` lets the adapter forget expired ones. */
  create(id: string, expiresAt: number, now: number): Promise<void>;
  /** True while session `id` exists and `now` is before its expiry; an expired one is forgotten. */
  isLive(id: string, now: number): Promise<boolean>;
  /** Forgets session `id` (signing out); unknown ids are ignored. */
  end(id: string): Promise<void>;
}

/** Options for {@linkcode createSessions}. */
export interface SessionOptions {
  /** API_TOKEN, read on each request; undefined or empty turns sign-in off. */
  apiToken: () => string | undefined;
  /** PUBLIC_BASE_URL: its origin is accepted besides the request's own. */
  publicBaseUrl: string;
  /** Session lifetime, ms. @default SESSION_TTL_MS */
  ttlMs?: number;
  /** Clock, epoch ms. @default Date.now */
  now?: () => number;
  /** Where sessions are kept. @default in process memory */
  store?: SignInSessions;
}

/** Signed-in browsers, and the one check every protected route uses. */
export interface Sessions {
  /** Starts a session; resolves to the `Set-Cookie` value. */
  start(request: Request): Promise<string>;
  /** Ends the request's session; resolves to the `Set-Cookie` value that clears the cookie. */
  end(request: Request): Promise<string>;
  /** True when the request carries a live session cookie. */
  has(request: Request): Promise<boolean>;
  /** True when the request's `Origin` (or, without one, `Referer`) is Parley's own. */
  sameOrigin(request: Request): boolean;
  /**
   * Allows the request (undefined) or answers why not: 503 without API_TOKEN, 401 without the
   * bearer token or a session, 403 for a cookie-authenticated state change from another origin.
   */
  authorize(request: Request): Promise<Response | undefined>;
}

/**
 * Builds the session table.
 *
 * @example
 * ```ts
 * const sessions = createSessions({ apiToken: () => config.apiToken, publicBaseUrl });
 * const refused = await sessions.authorize(request);
 * if (refused !== undefined) return refused;
 * ```
 */
export function createSessions(options: SessionOptions): Sessions {
  const ttl = options.ttlMs ?? SESSION_TTL_MS;
  const now = options.now ?? Date.now;
  const publicOrigin = new URL(options.publicBaseUrl).origin;
  const live = options.store ?? createMemorySignInSessions();

  const idOf = (request: Request): string | undefined => {
    const header = request.headers.get("cookie") ?? "";
    for (const part of header.split(";")) {
      const [name, ...value] = part.trim().split("=");
      if (name === SESSION_COOKIE) return value.join("=");
    }
    return undefined;
  };
  const secure = (request: Request) =>
    new URL(request.url).protocol === "https:" || publicOrigin.startsWith("https:") &&
      request.headers.get("x-forwarded-proto") === "https";
  const cookie = (request: Request, value: string, maxAgeS: number) =>
    `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${
      secure(request) ? "; Secure" : ""
    }`;

  const sessions: Sessions = {
    async start(request) {
      const bytes = crypto.getRandomValues(new Uint8Array(32));
      const id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      const t = now();
      await live.create(id, t + ttl, t);
      return cookie(request, id, Math.floor(ttl / 1000));
    },
    async end(request) {
      const id = idOf(request);
      if (id !== undefined) await live.end(id);
      return cookie(request, "", 0);
    },
    async has(request) {
      const token = options.apiToken();
      if (token === undefined || token === "") return false;
      const id = idOf(request);
      return id !== undefined && await live.isLive(id, now());
    },
    sameOrigin(request) {
      const from = request.headers.get("origin") ?? originOf(request.headers.get("referer"));
      if (from === undefined || from === null) return false;
      // Behind ngrok the page's origin is the public one, while the request URL is local.
      return from === new URL(request.url).origin || from === publicOrigin;
    },
    async authorize(request) {
      const token = options.apiToken();
      if (token !== undefined && token !== "" && checkBearer(request, token)) return undefined;
      if (!(await sessions.has(request))) return requireBearer(request, token);
      if (STATE_CHANGING.has(request.method) && !sessions.sameOrigin(request)) {
        return jsonError(403, "Cross-origin request refused: the Origin header is not this server's");
      }
      return undefined;
    },
  };
  return sessions;
}

function originOf(url: string | null): string | undefined {
  if (url === null) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/**
 * A session table in memory.
 *
 * @example
 * ```ts
 * const sessions = createMemorySignInSessions();
 * await sessions.create(id, Date.now() + 60_000, Date.now());
 * await sessions.isLive(id, Date.now()); // true
 * ```
 */
export function createMemorySignInSessions(): SignInSessions {
  const live = new Map<string, number>();
  return {
    create(id, expiresAt, now) {
      for (const [other, expires] of live) if (expires <= now) live.delete(other);
      live.set(id, expiresAt);
      return Promise.resolve();
    },
    isLive(id, now) {
      const expires = live.get(id);
      if (expires === undefined) return Promise.resolve(false);
      if (expires > now) return Promise.resolve(true);
      live.delete(id);
      return Promise.resolve(false);
    },
    end(id) {
      live.delete(id);
      return Promise.resolve();
    },
  };
}
