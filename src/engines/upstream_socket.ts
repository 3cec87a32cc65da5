/**
 * The socket toward OpenAI, for every engine (the URL and the messages are the engine's).
 *
 * It uses `npm:ws` rather than Deno's native `WebSocket` client: the native client leaves Nagle's
 * algorithm on (`TCP_NODELAY=0`), which holds back the small frame we send every 20 ms; `ws` sets
 * `TCP_NODELAY=1` (see `tests/engines/upstream_nodelay_test.ts`).
 *
 * @module
 */

// @ts-types="@types/ws"
import WebSocket from "ws";
import type { RefusalWords } from "./engine.ts";
import { ENGINE_DEFINITIONS, type EngineId } from "./registry.ts";
import { QuietWatch } from "../http/quiet_watch.ts";

/**
 * Why the upstream could not be opened: OpenAI refused the handshake (an HTTP `status`: a bad key,
 * no access, rate limits), or it could not be reached at all (no `status`: DNS, a refused or reset
 * connection, a handshake that timed out or was cut).
 */
export interface UpstreamFailure {
  /** HTTP status of a refused handshake, or undefined for a network failure or timeout. */
  status: number | undefined;
  /** A plain-words explanation with the likely fix. */
  message: string;
}

/** Callbacks of one upstream socket. Exactly one of `onFailure` or `onOpen` … `onClose` happens. */
export interface UpstreamHandlers {
  /** The handshake succeeded. */
  onOpen(): void;
  /** One text message from OpenAI. */
  onMessage(text: string): void;
  /** The open socket closed (by either side). */
  onClose(code: number, reason: string): void;
  /** The handshake failed. */
  onFailure(failure: UpstreamFailure): void;
}

/** An upstream socket, open or opening. */
export interface Upstream {
  /** Sends one text message; only valid once open. */
  send(text: string): void;
  /** Closes the socket (or abandons the handshake). Idempotent. */
  close(): void;
  /** Bytes sent but not yet written to the network (backpressure); 0 when unknown. */
  readonly bufferedAmount?: number;
}

/** What a connector needs to open one session. */
export interface UpstreamRequest {
  /** Full URL, from the engine's `sessionUrl`. */
  url: string;
  /** Sent as `Authorization: Bearer …`. */
  apiKey: string;
  /** Which engine (its id), for the words of a refusal. @default "realtime" */
  engine?: string;
}

/** Opens an upstream socket; injected into the server so tests and benches can substitute it. */
export type UpstreamConnector = (request: UpstreamRequest, handlers: UpstreamHandlers) => Upstream;

/** How long the handshake may take before the call gives up on it. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Explains a refused handshake in plain words, with the fix. */
export function describeRefusal(
  status: number,
  host: string,
  engine: EngineId | string = "realtime",
): string {
  const words = (ENGINE_DEFINITIONS.find((e) => e.id === engine) ?? ENGINE_DEFINITIONS[0]).refusal;
  switch (status) {
    case 401:
      return "OpenAI refused the API key (401): check OPENAI_API_KEY";
    case 403:
      return `OpenAI refused access (403): the key's project may not have ${words.access} access`;
    case 404:
      return `OpenAI answered 404: ${words.notFound}`;
    case 429:
      return "OpenAI is rate limiting or the account is out of quota (429): check billing and limits";
    default:
      return status >= 500
        ? `OpenAI is unavailable (${status}) at ${host}: try again later`
        : `OpenAI refused the connection (${status}) at ${host}`;
  }
}

/**
 * Explains a connection that failed before any HTTP answer (`problem`: the network error, e.g.
 * `connect ECONNREFUSED 127.0.0.1:443`), with where to look.
 */
export function describeUnreachable(
  problem: string,
  host: string,
  engine: EngineId | string = "realtime",
): string {
  return `Cannot reach OpenAI at ${host} (${problem}): check the network, DNS, proxy or firewall, ` +
    `and ${refusalWords(engine).urlVariable}`;
}

function refusalWords(engine: string): RefusalWords {
  return (ENGINE_DEFINITIONS.find((e) => e.id === engine) ?? ENGINE_DEFINITIONS[0]).refusal;
}

/** The keepalive looks this often whether anything came, and pings a socket that stayed quiet, ms. */
export const KEEPALIVE_PING_MS = 2_000;

/**
 * An open socket that has received nothing, not even a pong, for keepalive intervals adding up to this
 * is dead, ms (rounded up to whole intervals: three of 2 s).
 */
export const KEEPALIVE_DEAD_MS = 6_000;

/** How {@linkcode openAIConnector} waits for the handshake and watches an open socket. */
export interface ConnectorOptions {
  /** @default KEEPALIVE_PING_MS */
  pingEveryMs?: number;
  /** @default KEEPALIVE_DEAD_MS */
  deadAfterMs?: number;
  /** @default HANDSHAKE_TIMEOUT_MS */
  handshakeTimeoutMs?: number;
}

/**
 * The real connector, over `npm:ws` with Nagle off and no compression.
 *
 * A keepalive notices a half-open socket (a peer or a NAT gone without a FIN or a close frame): every
 * `pingEveryMs` it looks whether anything came since it last looked. A socket that was quiet for the
 * whole interval gets a WebSocket ping, which every standard server answers with a pong (RFC 6455
 * §5.5.2; `ws` and Deno answer on their own); one quiet for whole intervals adding up to `deadAfterMs`
 * is terminated, so it closes (1006) and the call reconnects within seconds instead of waiting for the
 * relay's 15 s stall watch, which only fires while the caller is talking. What a message costs the
 * watch is one counter (no clock read: the agent's audio arrives as fifty or more messages a second).
 *
 * The handshake's time limit is a timer of its own, not `ws`'s `handshakeTimeout`: that option sets
 * an idle timeout on the TCP socket, which `ws` clears once open, but Deno's `node:net` re-arms a
 * cleared socket timer on every read and write (`Timeout.refresh` re-creates it), so each message
 * of the call would cancel and create a timer.
 */
export function openAIConnector(options: ConnectorOptions = {}): UpstreamConnector {
  const timing = {
    pingEveryMs: options.pingEveryMs ?? KEEPALIVE_PING_MS,
    deadAfterMs: options.deadAfterMs ?? KEEPALIVE_DEAD_MS,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
  };
  return (request, handlers) => connect(request, handlers, timing);
}

/** The real connector with the default keepalive. */
export const connectOpenAI: UpstreamConnector = openAIConnector();

/**
 * Opens one socket and turns its events into `handlers`' calls: a failure while the handshake is
 * pending (refused, unreachable, timed out, cut), then open, messages and close once it succeeded.
 */
function connect(
  request: UpstreamRequest,
  handlers: UpstreamHandlers,
  timing: Required<ConnectorOptions>,
): Upstream {
  const host = new URL(request.url).host;
  /** Counts messages and pongs once the socket is open. */
  let keepalive: QuietWatch | undefined;
  let settled = false;
  const socket = new WebSocket(request.url, {
    headers: { Authorization: `Bearer ${request.apiKey}` },
    // Compression costs CPU and delay on every 20 ms frame of already-compact audio.
    perMessageDeflate: false,
  });
  const fail = (failure: UpstreamFailure) => {
    if (settled) return;
    settled = true;
    handlers.onFailure(failure);
  };
  /** A handshake that got no HTTP answer, for `problem`. */
  const unreachable = (problem: string) =>
    fail({ status: undefined, message: describeUnreachable(problem, host, request.engine) });
  // The words `ws` itself used for a handshake past its limit. Cleared once the socket is open or closed
  // (a failed or abandoned handshake closes it too).
  const handshake = setTimeout(() => {
    unreachable("Opening handshake has timed out");
    socket.terminate();
  }, timing.handshakeTimeoutMs);
  socket.on("unexpected-response", (_req, response) => {
    fail({
      status: response.statusCode,
      message: describeRefusal(response.statusCode ?? 0, host, request.engine ?? "realtime"),
    });
    response.resume();
    socket.terminate();
  });
  socket.on("open", () => {
    clearTimeout(handshake);
    settled = true;
    keepalive = startKeepalive(socket, timing);
    handlers.onOpen();
  });
  socket.on("pong", () => keepalive?.heard());
  socket.on("message", (data, isBinary) => {
    keepalive?.heard();
    if (!isBinary) handlers.onMessage(data.toString());
  });
  socket.on("error", (error: Error) => unreachable(error.message));
  socket.on("close", (code: number, reason: Buffer) => {
    clearTimeout(handshake);
    keepalive?.stop();
    if (settled) handlers.onClose(code, reason.toString());
    else unreachable(`the handshake was closed, ${code}`);
  });
  return upstreamOf(socket, () => settled = true);
}

/**
 * Watches an open socket: pings one that stayed quiet for a look, terminates one quiet for
 * `deadAfterMs`. A socket that delivered something since the last look is alive: no ping (and no
 * pong to read) while the agent talks.
 */
function startKeepalive(
  socket: WebSocket,
  { pingEveryMs, deadAfterMs }: Required<ConnectorOptions>,
): QuietWatch {
  const deadAfterIntervals = Math.max(1, Math.ceil(deadAfterMs / pingEveryMs));
  return new QuietWatch(pingEveryMs, (quiet) => {
    if (quiet >= deadAfterIntervals) socket.terminate();
    else socket.ping();
  });
}

/**
 * The handle the caller holds. Closing during the handshake abandons it (`abandon` keeps the
 * close that follows from being reported as a failure); closing an open socket closes it normally.
 */
function upstreamOf(socket: WebSocket, abandon: () => void): Upstream {
  return {
    send: (text) => socket.send(text),
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
    close: () => {
      if (socket.readyState === WebSocket.CONNECTING) {
        abandon();
        socket.terminate();
      } else if (socket.readyState === WebSocket.OPEN) {
        socket.close(1000);
      }
    },
  };
}
