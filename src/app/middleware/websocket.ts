/**
 * The handshake check of a WebSocket route (`bodyLimit: "websocket"` in the route table): a request
 * without `Upgrade: websocket` gets 426 before its guard runs. The rest of the handshake (what
 * `Deno.upgradeWebSocket` throws without) is checked after the guard, first thing in each socket's
 * handler (`refuseBadHandshake` in `api/media_upgrade.ts`): a request without credentials still gets
 * its guard's 401/403.
 *
 * @module
 */

import { jsonError } from "../../http/responses.ts";

/**
 * Answers 426 unless `request` asks for a WebSocket upgrade; `path` is the route's, for the message.
 *
 * @example
 * ```ts
 * const refused = refuseNonUpgrade(request, "/api/softphone");
 * if (refused !== undefined) return refused;
 * ```
 */
export function refuseNonUpgrade(request: Request, path: string): Response | undefined {
  if (request.headers.get("upgrade")?.toLowerCase() === "websocket") return undefined;
  return jsonError(426, `${path.replace(/\/\*$/, "")} is a WebSocket: connect with Upgrade: websocket`);
}
