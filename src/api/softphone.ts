/**
 * `GET /api/softphone?persona=<id>&voice=<voice>`: the browser's softphone socket.
 *
 * The page speaks the Media Stream protocol, as Twilio does, and the socket goes through the same
 * relay as a phone call, barge-in included. It is authenticated by the session cookie and the
 * page's origin (the route table's `sessionSameOrigin` guard) instead of a Twilio signature. Parley names the call: before the relay starts it
 * sends `{"event":"parley.assigned","callSid":"BR…","streamSid":"MZ…"}`, and a `start` naming any
 * other call is refused (close 1008; the relay is also bound to the assigned CallSid). The call is
 * recorded with direction `browser`. Like a phone call it counts toward MAX_CONCURRENT_CALLS and is
 * refused (503) at that limit or while the server drains, and like Twilio's media socket it is closed
 * (1009) by its first frame over 4 MiB, which nothing reads.
 *
 * @module
 */

import type { CallHub } from "../calls/call_hub.ts";
import { engineForModel, voiceProblem } from "../engines/voices.ts";
import { jsonError } from "../http/responses.ts";
import type { Logger } from "../log.ts";
import type { PersonaRegistry } from "../personas/types.ts";
import { closeOnHugeFrames, MAX_TWILIO_FRAME_CHARS } from "../twilio/media_stream.ts";
import { refuseBadHandshake } from "./media_upgrade.ts";

/** Options for {@linkcode createSoftphoneHandler}. */
export interface SoftphoneOptions {
  personas: PersonaRegistry;
  /** OPENAI_REALTIME_MODEL. */
  defaultModel: string;
  hub: CallHub;
  log: Logger;
  /** Why no new call may start now (draining, MAX_CONCURRENT_CALLS), or undefined. */
  refuseNewCall: () => string | undefined;
  /** Relays an accepted socket exactly like a Twilio media stream, for call `callSid` only. */
  startRelay: (socket: WebSocket, callSid: string) => void;
}

/** Builds the softphone socket handler. */
export function createSoftphoneHandler(options: SoftphoneOptions): (request: Request) => Response {
  const { personas, hub, log } = options;
  return (request) => {
    // Past the guard: a handshake Deno could not upgrade is a 400 naming the header, not a throw.
    const badHandshake = refuseBadHandshake(request, "/api/softphone");
    if (badHandshake !== undefined) return badHandshake;
    const query = new URL(request.url).searchParams;
    const personaId = query.get("persona") ?? "";
    const loaded = personas.get(personaId);
    if (loaded === undefined) {
      return jsonError(
        400,
        `Query "persona": unknown persona "${personaId.slice(0, 40)}": known personas are ${
          personas.ids().join(", ")
        }`,
      );
    }
    const full = options.refuseNewCall();
    if (full !== undefined) return jsonError(503, full);
    const voice = query.get("voice") ?? "";
    const engine = engineForModel(loaded.persona.model ?? options.defaultModel);
    const problem = voice === "" ? undefined : voiceProblem(voice, engine);
    if (problem !== undefined) return jsonError(400, `Query "voice": ${problem}`);

    const id = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0"))
      .join("");
    const callSid = `BR${id}`;
    const streamSid = `MZ${id}`;
    const { socket, response } = Deno.upgradeWebSocket(request);
    // As on Twilio's media socket: the first frame over 4 MiB closes the socket (1009) before anything reads it.
    closeOnHugeFrames(socket, (size) =>
      log.warnRateLimited(
        "softphone-frame-too-large",
        `Closed the softphone socket of CallSid=${callSid}: a frame of ${size} characters (the page's are under 1 KiB)`,
      ));
    // Registered before the relay's handler: a start for another call never reaches the relay.
    refuseForeignStart(socket, callSid, streamSid, log);
    socket.addEventListener("open", () => {
      hub.emit({
        type: "call.webhook",
        at: Date.now(),
        callSid,
        persona: loaded.id,
        direction: "browser",
        source: "softphone",
        from: "browser",
        to: "",
        parameters: { persona: loaded.id, ...(voice === "" ? {} : { voice }) },
      });
      socket.send(JSON.stringify({ event: "parley.assigned", callSid, streamSid }));
    }, { once: true });
    options.startRelay(socket, callSid);
    log.info(`Softphone connected: CallSid=${callSid} persona=${loaded.id}`);
    return response;
  };
}

/**
 * Closes `socket` (1008) on a `start` that names another call than the one assigned, before the relay
 * reads it. Once the assigned call's own `start` went through, the relay is bound to it and ignores any
 * later `start` as malformed: a stray one mid-call does not end the call.
 */
function refuseForeignStart(socket: WebSocket, callSid: string, streamSid: string, log: Logger): void {
  let started = false;
  socket.addEventListener("message", (event) => {
    const data: unknown = event.data;
    if (
      started || typeof data !== "string" || data.length > MAX_TWILIO_FRAME_CHARS || !data.includes('"start"')
    ) {
      return;
    }
    let start: { event?: unknown; start?: { callSid?: unknown; streamSid?: unknown } };
    try {
      start = JSON.parse(data);
    } catch {
      return;
    }
    if (
      start.event === "start" && (start.start?.callSid !== callSid || start.start?.streamSid !== streamSid)
    ) {
      event.stopImmediatePropagation();
      log.warn(`Softphone sent a start for another call: closing ${callSid}`);
      socket.close(1008, "start must name the assigned callSid and streamSid");
    } else if (start.event === "start") {
      started = true;
    }
  });
}
