/**
 * The floor for the bench: a bare pass-through relay between Twilio Media Streams and the Realtime
 * API. It parses each message's event type and forwards the audio payload, and nothing else: no
 * signature check, no marks, no playback clock, no truncation, no logging, no records. Whatever
 * Parley costs beyond this is the price of its features.
 *
 * It uses the same transports as Parley (Deno.serve + `Deno.upgradeWebSocket` toward Twilio,
 * `npm:ws` with compression off toward OpenAI), so the difference is the relay logic alone. It
 * sends what the fake upstream needs to start talking (`response.create` at `start`) and turns
 * `speech_started` into `clear`, so both relays are measured on the same script.
 *
 * Two variants take Parley's relay apart, for diagnosis only:
 * - `--marks`: also sends Parley's marks (one as an agent item starts, one per
 *   {@linkcode MARK_INTERVAL_MS} of its audio) and parses their echoes: the floor plus Parley's mark
 *   traffic, nothing else.
 * - `--client=native`: Deno's native WebSocket client upstream instead of `npm:ws` (Nagle on): what
 *   the node-compat transport costs.
 * - `--client=raw`: the bench's own client over `Deno.connect` with Nagle off (`testing/ws_client.ts`):
 *   what a client on Deno's own TCP ops would cost, keeping `TCP_NODELAY=1`.
 *
 * Usage: `deno run --allow-net=127.0.0.1 --allow-env=WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE
 * [--v8-flags=--expose-gc] bench/bare_relay.ts --upstream=ws://127.0.0.1:PORT/v1/realtime [--port=0] [--marks] [--client=native|raw]`
 *
 * @module
 */

// @ts-types="@types/ws"
import WebSocket from "ws";
import { RawWebSocket } from "../testing/ws_client.ts";
import { MARK_INTERVAL_MS } from "../src/relay/playback_clock.ts";
import { installGcHook } from "./_gc_hook.ts";

/** Options of {@linkcode serveBareRelay}. */
export interface BareRelayOptions {
  /** Realtime endpoint (the fake's URL). */
  upstreamUrl: string;
  /** Port to listen on; 0 picks a free one. @default 0 */
  port?: number;
  /** Called with the bound port. */
  onListen?: (port: number) => void;
  /** Send marks as Parley does (an item's start, every 100 ms of its audio). @default false */
  marks?: boolean;
  /** Upstream client: `npm:ws` (as Parley), Deno's native WebSocket, or the bench's raw one. @default "ws" */
  client?: "ws" | "native" | "raw";
}

/** The upstream socket, whichever client opens it. */
interface UpstreamSocket {
  send(text: string): void;
  close(): void;
}

/**
 * Serves the bare relay on 127.0.0.1.
 *
 * @example
 * ```ts
 * const server = serveBareRelay({ upstreamUrl: "ws://127.0.0.1:9000/v1/realtime" });
 * await server.shutdown();
 * ```
 */
export function serveBareRelay(options: BareRelayOptions): Deno.HttpServer<Deno.NetAddr> {
  const url = `${options.upstreamUrl}?model=gpt-realtime-2.1`;
  return Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    onListen: ({ port }) => options.onListen?.(port),
  }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    bridge(socket, url, options);
    return response;
  });
}

function bridge(twilio: globalThis.WebSocket, url: string, options: BareRelayOptions): void {
  let pending: string[] | undefined = [];
  let mediaPrefix = "";
  let markPrefix = "";
  let marks = 0;
  let markedItem: string | undefined;
  let unmarkedMs = 0;
  let clear = "";
  const onOpen = () => {
    for (const text of pending ?? []) upstream.send(text);
    pending = undefined;
  };
  const onMessage = (text: string) => {
    const event = JSON.parse(text);
    if (twilio.readyState !== globalThis.WebSocket.OPEN) return;
    if (event.type === "response.output_audio.delta") {
      if (!options.marks) return twilio.send(mediaPrefix + event.delta + `"}}`);
      // Parley's marks (`src/relay/playback_clock.ts`): one as an item starts, one per 100 ms of audio.
      if (event.item_id !== markedItem) {
        markedItem = event.item_id;
        unmarkedMs = 0;
        twilio.send(`${markPrefix}"m${++marks}"}}`);
      }
      twilio.send(mediaPrefix + event.delta + `"}}`);
      unmarkedMs += (event.delta.length * 3) / 4 / 8;
      if (unmarkedMs >= MARK_INTERVAL_MS) {
        unmarkedMs = 0;
        twilio.send(`${markPrefix}"m${++marks}"}}`);
      }
    } else if (event.type === "input_audio_buffer.speech_started") {
      twilio.send(clear);
    }
  };
  const onClose = () => {
    if (twilio.readyState === globalThis.WebSocket.OPEN) twilio.close();
  };
  const callbacks = { onOpen, onMessage, onClose };
  const upstream = options.client === "native"
    ? connectNative(url, callbacks)
    : options.client === "raw"
    ? connectRaw(url, callbacks)
    : connectWs(url, callbacks);
  const sendUp = (text: string) => {
    if (pending === undefined) upstream.send(text);
    else pending.push(text);
  };
  twilio.onmessage = (message) => {
    const event = JSON.parse(message.data as string);
    switch (event.event) {
      case "media":
        sendUp(`{"type":"input_audio_buffer.append","audio":"${event.media.payload}"}`);
        return;
      case "start": {
        const sid = JSON.stringify(event.start.streamSid);
        mediaPrefix = `{"event":"media","streamSid":${sid},"media":{"payload":"`;
        markPrefix = `{"event":"mark","streamSid":${sid},"mark":{"name":`;
        clear = `{"event":"clear","streamSid":${sid}}`;
        sendUp(`{"type":"response.create"}`);
        return;
      }
      case "stop":
        twilio.close();
        return;
    }
  };
  twilio.onclose = () => upstream.close();
}

interface UpstreamCallbacks {
  onOpen(): void;
  onMessage(text: string): void;
  onClose(): void;
}

function connectWs(url: string, on: UpstreamCallbacks): UpstreamSocket {
  const socket = new WebSocket(url, {
    headers: { Authorization: "Bearer sk-bare" },
    perMessageDeflate: false,
  });
  socket.on("open", on.onOpen);
  socket.on("message", (data) => on.onMessage(data.toString()));
  socket.on("error", on.onClose);
  socket.on("close", on.onClose);
  return {
    send: (text) => socket.send(text),
    close: () => {
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
      else if (socket.readyState === WebSocket.OPEN) socket.close(1000);
    },
  };
}

function connectRaw(url: string, on: UpstreamCallbacks): UpstreamSocket {
  const target = new URL(url);
  let socket: RawWebSocket | undefined;
  let closed = false;
  RawWebSocket.connect({
    hostname: target.hostname,
    port: Number(target.port),
    path: target.pathname + target.search,
    headers: { Authorization: "Bearer sk-bare" },
  }, { onText: (text) => on.onMessage(text), onClose: on.onClose }).then((opened) => {
    socket = opened;
    if (closed) opened.close();
    else on.onOpen();
  }, on.onClose);
  return {
    send: (text) => socket?.send(text),
    close: () => {
      closed = true;
      socket?.close();
    },
  };
}

function connectNative(url: string, on: UpstreamCallbacks): UpstreamSocket {
  const socket = new globalThis.WebSocket(url, { headers: { Authorization: "Bearer sk-bare" } });
  socket.onopen = on.onOpen;
  socket.onmessage = (event) => on.onMessage(event.data as string);
  socket.onerror = () => {};
  socket.onclose = on.onClose;
  return {
    send: (text) => socket.send(text),
    close: () => {
      if (socket.readyState <= globalThis.WebSocket.OPEN) socket.close(1000);
    },
  };
}

if (import.meta.main) {
  const arg = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const upstreamUrl = arg("upstream");
  if (upstreamUrl === undefined) {
    console.error("❌ Missing --upstream=ws://host:port/v1/realtime");
    Deno.exit(1);
  }
  // SIGUSR2: a full GC and a memory line, as in Parley (`_gc_hook.ts`; the bench runs it under --expose-gc).
  // Installed before it listens: the bench may signal as soon as it reads the listening line.
  installGcHook();
  const server = serveBareRelay({
    upstreamUrl,
    port: Number(arg("port") ?? "0"),
    marks: Deno.args.includes("--marks"),
    client: arg("client") === "native" ? "native" : arg("client") === "raw" ? "raw" : "ws",
    onListen: (port) => console.log(`Bare relay listening on http://localhost:${port}`),
  });
  // Exit at once (open calls included): the bench stops the floor only after its calls ended.
  const stop = () => Deno.exit(0);
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  await server.finished;
}
