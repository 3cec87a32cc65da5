/**
 * Signed, expiring links to a call's recording, the link a `recording.ready` webhook carries:
 * `/api/calls/<CallSid>/recording?expires=<Unix seconds>&signature=<base64url HMAC-SHA256>`. The HMAC is
 * over the path and the expiry, keyed with a key derived from `WEBHOOK_SECRET` (the receiver already
 * shares that secret; every instance behind one load balancer has the same one, so any of them honours
 * any link). Whoever holds the link can fetch that one recording until it expires, without the API token;
 * changing the path, the expiry or the signature makes it worthless.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";

/** How long a link stays good: a week, beyond the webhook's 24 h of retries. */
export const RECORDING_LINK_TTL_MS = 7 * 86_400_000;

/** What a request's signed-link parameters say. */
export type LinkVerdict =
  /** No `expires` and no `signature`: another guard decides. */
  | { kind: "unsigned" }
  /** A good link, not expired. */
  | { kind: "valid" }
  /** Signed, but not acceptable: `reason` says why (for the 403). */
  | { kind: "refused"; reason: string };

/** Signs and checks recording links. */
export interface RecordingLinks {
  /** True when links can be signed (`WEBHOOK_SECRET` is set). */
  readonly enabled: boolean;
  /** A link (path and query) to `callSid`'s recording, good until `expiresAt` (epoch ms, whole seconds). */
  sign(callSid: string): { path: string; expiresAt: number };
  /** Judges the `expires` and `signature` of `url` against its path. */
  check(url: URL): LinkVerdict;
}

/** The recording route's path for `callSid`. */
export function recordingPath(callSid: string): string {
  return `/api/calls/${encodeURIComponent(callSid)}/recording`;
}

/**
 * Links keyed by `secret` (`WEBHOOK_SECRET`; undefined: signed links are off and any is refused);
 * `now` gives epoch ms (tests).
 *
 * @example
 * ```ts
 * const links = createRecordingLinks(config.webhook?.secret);
 * const { path } = links.sign("CA0123");
 * links.check(new URL(path, "https://parley.example.com")); // { kind: "valid" }
 * ```
 */
export function createRecordingLinks(
  secret: string | undefined,
  now: () => number = Date.now,
  ttlMs: number = RECORDING_LINK_TTL_MS,
): RecordingLinks {
  // A key of its own (not the webhook signing key itself): a link's MAC can never pass for a webhook's.
  const key = secret === undefined
    ? undefined
    : createHmac("sha256", secret).update("parley recording link v1").digest();
  const mac = (path: string, expires: string) =>
    createHmac("sha256", key!).update(`${path}\n${expires}`).digest("base64url");

  return {
    enabled: key !== undefined,
    sign(callSid) {
      if (key === undefined) throw new Error("Cannot sign a recording link: WEBHOOK_SECRET is not set");
      const path = recordingPath(callSid);
      const expires = String(Math.ceil((now() + ttlMs) / 1000));
      return {
        path: `${path}?expires=${expires}&signature=${mac(path, expires)}`,
        expiresAt: Number(expires) * 1000,
      };
    },
    check(url) {
      const expires = url.searchParams.get("expires");
      const signature = url.searchParams.get("signature");
      if (expires === null && signature === null) return { kind: "unsigned" };
      if (key === undefined) {
        return refused(
          "signed recording links are off on this server (WEBHOOK_SECRET is not set): send the API token",
        );
      }
      if (expires === null || signature === null) {
        return refused(`the link lacks its ${expires === null ? "expires" : "signature"} parameter`);
      }
      if (!/^\d{1,12}$/.test(expires)) return refused("its expires parameter is not a Unix time in seconds");
      const expected = Buffer.from(mac(url.pathname, expires));
      const given = Buffer.from(signature);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return refused(
          "its signature does not match its path and expiry (changed, or signed with another WEBHOOK_SECRET)",
        );
      }
      if (now() >= Number(expires) * 1000) {
        return refused(
          `it expired at ${new Date(Number(expires) * 1000).toISOString()}: ` +
            "use the API token, or the link of a newer recording.ready",
        );
      }
      return { kind: "valid" };
    },
  };
}

function refused(reason: string): LinkVerdict {
  return { kind: "refused", reason: `Signed recording link refused: ${reason}` };
}
