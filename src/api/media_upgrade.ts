/**
 * `GET /twilio-realtime-voice/<token>`: Twilio's Media Stream socket. Signed over the full URL, token
 * included, then the token is claimed (single use, 60 s): only then does anything open upstream. The
 * call's pre-warmed session, if this instance opened one on its webhook, is handed to its relay.
 *
 * @module
 */

import { clip } from "../http/input_text.ts";
import { jsonError } from "../http/responses.ts";
import type { Logger } from "../log.ts";
import { MEDIA_STREAM_PATH } from "../paths.ts";
import type { Prewarms } from "../relay/prewarm.ts";
import type { Prewarm } from "../relay/prewarmed_session.ts";
import { closeOnHugeFrames, closeWhenSilent, MEDIA_SILENCE_MS } from "../twilio/media_stream.ts";
import type { StreamTokenRefusal, StreamTokens } from "../twilio/stream_token.ts";

/** What each stream-token refusal means, for the log line. */
const STREAM_TOKEN_HELP: Record<StreamTokenRefusal, string> = {
  missing:
    `connect to the URL the voice webhook answers (${MEDIA_STREAM_PATH}/<token>), not to the bare path`,
  malformed: "the path is not a stream URL this server issued",
  forged: "the token was not issued with this TWILIO_AUTH_TOKEN",
  expired: "the socket came more than 60 s after the webhook",
  replayed: "the token was already used: a replayed handshake opens nothing",
};

/** Options of {@linkcode createMediaUpgradeHandler}. */
export interface MediaUpgradeOptions {
  log: Logger;
  tokens: StreamTokens;
  prewarms: Pick<Prewarms, "claim">;
  /** Counts a refused token (the metrics). */
  onRefused: () => void;
  /** Relays the accepted socket for `callSid`, on its pre-warmed session if any. */
  startRelay: (socket: WebSocket, callSid: string, prewarm?: Prewarm) => void;
  /** Close a media socket that sends no frame for this long, ms. @default MEDIA_SILENCE_MS */
  silentMs?: number;
}

/**
 * Answers 400 when an upgrade request lacks what `Deno.upgradeWebSocket` needs (it throws otherwise,
 * a 500 with a logged stack): a `Connection` header listing `Upgrade`, and a `Sec-WebSocket-Key` (an
 * empty one is refused too). Deno 2.9.6 requires nothing more (no `Sec-WebSocket-Version`), and every
 * WebSocket client sends these. The router has already answered 426 to a request without
 * `Upgrade: websocket` (`app/middleware/websocket.ts`); the media and softphone handlers call this
 * first, after their guard. `path` is the route's, for the message.
 *
 * @example
 * ```ts
 * const refused = refuseBadHandshake(request, "/api/softphone");
 * if (refused !== undefined) return refused;
 * // no Connection header: 400 {"error": "Connection header is missing: a WebSocket handshake to
 * // /api/softphone sends Connection: Upgrade"}
 * ```
 */
export function refuseBadHandshake(request: Request, path: string): Response | undefined {
  const handshake = `a WebSocket handshake to ${path}`;
  const connection = request.headers.get("connection");
  if (connection === null) {
    return jsonError(400, `Connection header is missing: ${handshake} sends Connection: Upgrade`);
  }
  // As Deno reads it: a comma-separated list, one of whose tokens is `upgrade` in any case.
  if (!connection.split(",").some((token) => token.trim().toLowerCase() === "upgrade")) {
    return jsonError(
      400,
      `Connection "${clip(connection)}" does not include Upgrade: ${handshake} sends Connection: Upgrade`,
    );
  }
  if ((request.headers.get("sec-websocket-key") ?? "").trim() === "") {
    return jsonError(400, `Sec-WebSocket-Key header is missing: ${handshake} sends one`);
  }
  return undefined;
}

/**
 * Builds the media socket handler. It runs behind the route table's `twilio` guard (the handshake is
 * an `Upgrade: websocket`, signed over the full URL, token included); then the token is claimed.
 */
export function createMediaUpgradeHandler(
  options: MediaUpgradeOptions,
): (request: Request) => Promise<Response> {
  const { log, tokens } = options;
  return async (request) => {
    // Past the guard: a handshake Deno could not upgrade is a 400 naming the header, before the
    // token is claimed (Twilio may retry with it) and before `Deno.upgradeWebSocket` would throw.
    const badHandshake = refuseBadHandshake(request, MEDIA_STREAM_PATH);
    if (badHandshake !== undefined) return badHandshake;
    // The signature was checked over the full URL; now the token: before anything opens upstream.
    const pathToken = new URL(request.url).pathname.slice(MEDIA_STREAM_PATH.length + 1);
    const claim = await tokens.claim(pathToken === "" ? undefined : pathToken);
    if (!claim.ok) {
      options.onRefused();
      log.warnRateLimited(
        `stream-token-${claim.reason}`,
        `Refused media socket: stream token ${claim.reason}: ${STREAM_TOKEN_HELP[claim.reason]}`,
      );
      return jsonError(403, `Stream token ${claim.reason}`);
    }
    // No idle timeout of Deno's (a timer re-armed on every frame): closeWhenSilent watches instead.
    const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: 0 });
    closeOnHugeFrames(socket, (size) =>
      log.warnRateLimited(
        "media-frame-too-large",
        `Closed the media socket of CallSid=${claim.callSid}: a frame of ${size} characters (Twilio's are under 64 KiB)`,
      ));
    const silentMs = options.silentMs ?? MEDIA_SILENCE_MS;
    closeWhenSilent(socket, silentMs, () =>
      log.warn(
        `Closed the media socket of CallSid=${claim.callSid}: no frame from Twilio for ${
          silentMs / 1000
        } s ` +
          "(it sends one every 20 ms while the stream lives): the connection is dead",
      ));
    // This instance's pre-warm for the call, if it answered the webhook (else a fresh session opens).
    options.startRelay(socket, claim.callSid, options.prewarms.claim(claim.callSid));
    return response;
  };
}
