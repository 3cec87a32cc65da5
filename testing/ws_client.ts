/**
 * A minimal WebSocket client over a raw TCP connection with Nagle's algorithm off: the bench's
 * simulated Twilio media servers.
 *
 * Deno's native `WebSocket` client sets `TCP_NODELAY=0` (see
 * `tests/engines/upstream_nodelay_test.ts`): a 20 ms frame written while the previous one is
 * unacknowledged would wait for a delayed ACK, and the bench would measure the client's Nagle
 * rather than the relay. This client sets `TCP_NODELAY=1`, sends unfragmented masked text frames
 * (zero mask key: the frame bytes are the text itself), answers pings, and hands each text frame
 * to one callback together with the time its bytes were read, with no event object per message.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HEADER_END = encoder.encode("\r\n\r\n");

/** Callbacks of a {@linkcode RawWebSocket}. */
export interface RawSocketHandlers {
  /** One text message, and when the read that carried it completed (performance.now). */
  onText(text: string, at: number): void;
  /** The connection ended (close handshake, EOF or error). */
  onClose(): void;
}

/** Where to connect, and the upgrade request's extra headers. */
export interface RawConnectOptions {
  hostname: string;
  port: number;
  path: string;
  headers?: Record<string, string>;
  /** Give up on the handshake after this many ms. @default 10000 */
  timeoutMs?: number;
}

/** Raised when the server does not answer the upgrade with 101. */
export class UpgradeRefusedError extends Error {
  /** The server's status line. */
  readonly statusLine: string;
  /** Builds the error. */
  constructor(statusLine: string) {
    super(`WebSocket upgrade refused: ${statusLine}`);
    this.name = "UpgradeRefusedError";
    this.statusLine = statusLine;
  }
}

/** An open client WebSocket. */
export class RawWebSocket {
  /** Resolves once the connection has ended. */
  readonly closed: Promise<void>;
  readonly #conn: Deno.TcpConn;
  readonly #handlers: RawSocketHandlers;
  #queue: Uint8Array[] = [];
  #writing = false;
  #closeSent = false;
  #ended = false;
  #resolveClosed!: () => void;
  #fragments: Uint8Array[] = [];

  private constructor(conn: Deno.TcpConn, handlers: RawSocketHandlers, leftover: Uint8Array) {
    this.#conn = conn;
    this.#handlers = handlers;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.#readLoop(leftover);
  }

  /**
   * Connects and upgrades; resolves once the server answered 101.
   *
   * @example
   * ```ts
   * const ws = await RawWebSocket.connect({ hostname: "127.0.0.1", port, path: "/ws" }, {
   *   onText: (text, at) => console.log(text, at),
   *   onClose: () => {},
   * });
   * ws.send("hello");
   * ```
   */
  static async connect(options: RawConnectOptions, handlers: RawSocketHandlers): Promise<RawWebSocket> {
    const conn = await Deno.connect({ hostname: options.hostname, port: options.port });
    conn.setNoDelay(true);
    const timeoutMs = options.timeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
      const lines = [
        `GET ${options.path} HTTP/1.1`,
        `Host: ${options.hostname}:${options.port}`,
        "Upgrade: websocket",
        "Connection: Upgrade",
        `Sec-WebSocket-Key: ${key}`,
        "Sec-WebSocket-Version: 13",
        ...Object.entries(options.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
      ];
      await writeAll(conn, encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`WebSocket handshake with port ${options.port} took over ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      const { head, rest } = await Promise.race([readHead(conn), timeout]);
      const statusLine = head.split("\r\n", 1)[0] ?? "";
      if (!/^HTTP\/1\.1 101\b/.test(statusLine)) throw new UpgradeRefusedError(statusLine);
      return new RawWebSocket(conn, handlers, rest);
    } catch (error) {
      try {
        conn.close();
      } catch { /* already closed */ }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** True until a close frame was sent or the connection ended. */
  get open(): boolean {
    return !this.#closeSent && !this.#ended;
  }

  /**
   * Sends one text message (dropped silently once closing). Messages sent in the same turn of the
   * event loop go out in one write, as a media server's per-tick output does.
   */
  send(text: string): void {
    if (!this.open) return;
    this.#write(textFrame(text));
  }

  /** Starts the close handshake; the connection ends when the server answers (or after 2 s). */
  close(code = 1000): void {
    if (!this.open) return;
    this.#closeSent = true;
    this.#write(frame(0x8, new Uint8Array([code >> 8, code & 255])));
    const timer = setTimeout(() => this.#end(), 2_000);
    this.closed.then(() => clearTimeout(timer));
  }

  #write(bytes: Uint8Array): void {
    this.#queue.push(bytes);
    if (this.#writing) return;
    this.#writing = true;
    queueMicrotask(() => this.#flush());
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#ended) {
        const chunk = this.#queue.length === 1 ? this.#queue[0]! : concat(this.#queue);
        this.#queue = [];
        await writeAll(this.#conn, chunk);
      }
    } catch {
      this.#end();
    } finally {
      this.#writing = false;
    }
  }

  async #readLoop(leftover: Uint8Array): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    let pending = leftover.length > 0 ? leftover : undefined;
    try {
      if (pending !== undefined) pending = this.#parse(pending, performance.now());
      while (!this.#ended) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        const at = performance.now();
        const data = pending === undefined ? buffer.subarray(0, n) : concat([pending, buffer.subarray(0, n)]);
        pending = this.#parse(data, at);
      }
    } catch {
      // reset or closed under us: the connection is over either way
    }
    this.#end();
  }

  /** Handles every complete frame in `data`; returns a copy of the incomplete rest, if any. */
  #parse(data: Uint8Array, at: number): Uint8Array | undefined {
    let offset = 0;
    while (data.length - offset >= 2) {
      const b0 = data[offset]!;
      const b1 = data[offset + 1]!;
      let length = b1 & 0x7f;
      let header = 2;
      if (length === 126) {
        if (data.length - offset < 4) break;
        length = (data[offset + 2]! << 8) | data[offset + 3]!;
        header = 4;
      } else if (length === 127) {
        if (data.length - offset < 10) break;
        length = Number(new DataView(data.buffer, data.byteOffset + offset + 2, 8).getBigUint64(0));
        header = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      if (masked) header += 4;
      if (data.length - offset < header + length) break;
      let payload = data.subarray(offset + header, offset + header + length);
      if (masked) payload = unmask(payload, data.subarray(offset + header - 4, offset + header));
      offset += header + length;
      this.#onFrame(b0 & 0x0f, (b0 & 0x80) !== 0, payload, at);
      if (this.#ended) return undefined;
    }
    return offset < data.length ? data.slice(offset) : undefined;
  }

  #onFrame(opcode: number, fin: boolean, payload: Uint8Array, at: number): void {
    switch (opcode) {
      case 0x0: // continuation
      case 0x1: // text
      case 0x2: { // binary (Twilio's peer never sends it; decoded like text so nothing is lost)
        if (!fin) {
          this.#fragments.push(payload.slice());
          return;
        }
        const whole = this.#fragments.length === 0 ? payload : concat([...this.#fragments, payload]);
        this.#fragments = [];
        this.#handlers.onText(decoder.decode(whole), at);
        return;
      }
      case 0x8: // close: answer it, then the server closes the TCP connection
        if (!this.#closeSent) {
          this.#closeSent = true;
          this.#write(frame(0x8, payload.slice(0, 2)));
        }
        return;
      case 0x9: // ping
        if (!this.#closeSent) this.#write(frame(0xa, payload.slice()));
        return;
      default: // pong and reserved opcodes
        return;
    }
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.#handlers.onClose();
    this.#resolveClosed();
  }
}

/**
 * A masked text frame, encoded straight into the frame (one allocation of the frame's size): the
 * common case is an ASCII message of 126–65535 bytes, whose header is 2 + 2 (length) + 4 (mask).
 */
function textFrame(text: string): Uint8Array {
  // Sized for ASCII (all the bench sends); anything longer once encoded takes the general path.
  const bytes = new Uint8Array(8 + text.length);
  const { read, written } = encoder.encodeInto(text, bytes.subarray(8));
  if (read < text.length || written < 126 || written > 65535) return frame(0x1, encoder.encode(text));
  bytes[0] = 0x81;
  bytes[1] = 0x80 | 126;
  bytes[2] = written >> 8;
  bytes[3] = written & 255;
  return bytes.subarray(0, 8 + written);
}

/** A masked client frame with a zero mask key (the payload bytes go out as they are). */
function frame(opcode: number, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const bytes = new Uint8Array(header + 4 + length);
  bytes[0] = 0x80 | opcode;
  if (length < 126) {
    bytes[1] = 0x80 | length;
  } else if (length < 65536) {
    bytes[1] = 0x80 | 126;
    bytes[2] = length >> 8;
    bytes[3] = length & 255;
  } else {
    bytes[1] = 0x80 | 127;
    new DataView(bytes.buffer).setBigUint64(2, BigInt(length));
  }
  bytes.set(payload, header + 4);
  return bytes;
}

function unmask(payload: Uint8Array, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = payload[i]! ^ key[i & 3]!;
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Reads the HTTP response head; returns it and the bytes after it. */
async function readHead(conn: Deno.Conn): Promise<{ head: string; rest: Uint8Array }> {
  let data: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  const buffer = new Uint8Array(4096);
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("Connection closed during the WebSocket handshake");
    data = concat([data, buffer.subarray(0, n)]);
    const end = indexOf(data, HEADER_END);
    if (end >= 0) {
      return { head: decoder.decode(data.subarray(0, end)), rest: data.slice(end + HEADER_END.length) };
    }
    if (data.length > 64 * 1024) throw new Error("WebSocket handshake response head is over 64 KiB");
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
