/**
 * Per-call stream tokens: the voice webhook gives each call its own Media Stream URL,
 * `wss://host/twilio-realtime-voice/<token>`, and the socket route opens nothing upstream unless the
 * token is valid. Twilio signs the full URL, token included, so a captured signature is good for one
 * call, for about a minute, once.
 *
 * A token is `<CallSid>.<expiry, base 36 epoch ms>.<HMAC-SHA256, base64url>`: any instance holding
 * the same secret can check it (no shared state); single use is enforced by the store's
 * {@linkcode UsedStreamTokens} ledger (in process memory with SQLite), pruned at expiry, so it stays
 * bounded by the calls of the last minute.
 *
 * The secret is derived from `TWILIO_AUTH_TOKEN` (see the README, "Reliability"): every instance
 * behind one number already shares it, it is already a secret, and rotating it in Twilio's console
 * rotates the tokens too. Without it (signature check off, local experiments) a random per-process
 * secret is used.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";
import { MEDIA_STREAM_PATH } from "../paths.ts";

/** How long a token is valid after the webhook issued it, ms. */
export const STREAM_TOKEN_TTL_MS = 60_000;

/** Why a token was refused. */
export type StreamTokenRefusal = "missing" | "malformed" | "forged" | "expired" | "replayed";

/** The outcome of {@linkcode StreamTokens.claim}: the CallSid the token was issued for, or why not. */
export type StreamTokenVerdict =
  | { ok: true; callSid: string }
  | { ok: false; reason: StreamTokenRefusal };

/**
 * The ledger of stream tokens already used, so that each opens one media socket at most: a storage
 * port (see `src/store/ports.ts`); one SQLite instance keeps it in memory, several instances share it.
 */
export interface UsedStreamTokens {
  /**
   * Marks `token` used until `expiresAt` (epoch ms; it is refused as expired after that anyway).
   * Resolves true for the first claim of a token, false for every later one, even concurrent.
   */
  claim(token: string, expiresAt: number, now: number): Promise<boolean>;
}

/** Options for {@linkcode createStreamTokens}. */
export interface StreamTokenOptions {
  /** TWILIO_AUTH_TOKEN, or undefined for a random per-process secret. */
  secret: string | undefined;
  /** @default STREAM_TOKEN_TTL_MS */
  ttlMs?: number;
  /** Wall clock, epoch ms. @default Date.now */
  now?: () => number;
  /** The ledger of used tokens. @default in process memory */
  used?: UsedStreamTokens;
}

/** Issues and claims stream tokens. */
export interface StreamTokens {
  /** A new token for `callSid`, valid for the TTL and for one socket. */
  issue(callSid: string): string;
  /**
   * Checks `token` and marks it used. Returns the CallSid it was issued for (the key a pre-warmed
   * session is claimed by), or why it is refused. Rejects only when the ledger cannot be read.
   */
  claim(token: string | undefined): Promise<StreamTokenVerdict>;
  /** Tokens issued by this instance, neither used nor expired: calls on their way to the socket. */
  outstanding(): number;
}

const CALL_SID = /^CA[0-9a-fA-F]{32}$/;

/** Characters of a stream token a log line may show. */
export const TOKEN_LOG_CHARS = 8;

/**
 * `path` fit for a log line: a media stream path keeps only the first {@linkcode TOKEN_LOG_CHARS}
 * characters of its token (an unused token opens a call's socket, with a signature).
 *
 * @example
 * ```ts
 * redactStreamPath("/twilio-realtime-voice/CA0123456789abcdef….lx9k2.mac"); // "/twilio-realtime-voice/CA012345…"
 * ```
 */
export function redactStreamPath(path: string): string {
  const prefix = `${MEDIA_STREAM_PATH}/`;
  if (!path.startsWith(prefix) || path.length <= prefix.length + TOKEN_LOG_CHARS) return path;
  return `${path.slice(0, prefix.length + TOKEN_LOG_CHARS)}…`;
}

/** True for a Twilio CallSid: `CA` followed by 32 hex digits. */
export function isCallSid(value: string | undefined): value is string {
  return value !== undefined && CALL_SID.test(value);
}

/**
 * Builds the token issuer/checker.
 *
 * @example
 * ```ts
 * const tokens = createStreamTokens({ secret: config.twilioAuthToken });
 * const url = `wss://${host}${MEDIA_STREAM_PATH}/${tokens.issue(form.CallSid)}`;
 * // on the socket:
 * const verdict = await tokens.claim(pathToken); // { ok: true, callSid } once; { ok: false, reason: "replayed" } after
 * ```
 */
export function createStreamTokens(options: StreamTokenOptions): StreamTokens {
  const key = options.secret === undefined || options.secret === ""
    ? crypto.getRandomValues(new Uint8Array(32))
    // A key of its own, derived from the auth token, so a token never doubles as a webhook signature.
    : createHmac("sha256", options.secret).update("parley stream token v1").digest();
  const ttlMs = options.ttlMs ?? STREAM_TOKEN_TTL_MS;
  const now = options.now ?? Date.now;
  const used = options.used ?? createMemoryUsedStreamTokens();
  /** Issued, not yet used → expiry. */
  const issued = new Map<string, number>();

  const mac = (body: string) => createHmac("sha256", key).update(body).digest("base64url");
  const prune = (t: number) => pruneExpired(issued, t);

  return {
    issue(callSid) {
      const t = now();
      prune(t);
      const body = `${callSid}.${(t + ttlMs).toString(36)}`;
      const token = `${body}.${mac(body)}`;
      issued.set(token, t + ttlMs);
      return token;
    },
    async claim(token) {
      if (token === undefined || token === "") return { ok: false, reason: "missing" };
      const parts = token.split(".");
      if (parts.length !== 3 || !isCallSid(parts[0]) || !/^[0-9a-z]{1,12}$/.test(parts[1]!)) {
        return { ok: false, reason: "malformed" };
      }
      const [callSid, expiryText, signature] = parts as [string, string, string];
      const expected = Buffer.from(mac(`${callSid}.${expiryText}`));
      const given = Buffer.from(signature);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return { ok: false, reason: "forged" };
      }
      const t = now();
      prune(t);
      const expiry = parseInt(expiryText, 36);
      if (expiry < t) return { ok: false, reason: "expired" };
      if (!(await used.claim(token, expiry, t))) return { ok: false, reason: "replayed" };
      issued.delete(token);
      return { ok: true, callSid };
    },
    outstanding() {
      prune(now());
      return issued.size;
    },
  };
}

/**
 * A used-token ledger in memory.
 *
 * @example
 * ```ts
 * const used = createMemoryUsedStreamTokens();
 * await used.claim(token, expiry, Date.now()); // true
 * await used.claim(token, expiry, Date.now()); // false
 * ```
 */
export function createMemoryUsedStreamTokens(): UsedStreamTokens {
  /** Used tokens → their expiry. */
  const used = new Map<string, number>();
  return {
    claim(token, expiresAt, now) {
      pruneExpired(used, now);
      if (used.has(token)) return Promise.resolve(false);
      used.set(token, expiresAt);
      return Promise.resolve(true);
    },
  };
}

/**
 * Deletes the expired entries of `expiries` (token → expiry, epoch ms) from its oldest on, and stops at
 * the first one still valid: entries go in about in expiry order (a token lives a fixed time), so a
 * call costs what expired since the last one, not a walk over every token of the last minute. One put
 * in out of order stays at most until the valid one before it expires.
 */
function pruneExpired(expiries: Map<string, number>, now: number): void {
  for (const [token, expiry] of expiries) {
    if (expiry >= now) return;
    expiries.delete(token);
  }
}
