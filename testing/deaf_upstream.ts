/**
 * DeafUpstream: an OpenAI-like WebSocket server that completes the handshake, says
 * `session.created`, and then never reads from its socket — the "upstream that never reads".
 * The kernel buffers fill, then the client's own send buffer grows (npm:ws `bufferedAmount`). A raw
 * TCP listener, because `Deno.upgradeWebSocket` always reads.
 *
 * @module
 */

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** A server on 127.0.0.1, port 0, whose sessions never read. */
export class DeafUpstream {
  readonly #listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
  readonly #conns: Deno.TcpConn[] = [];
  readonly #accepting: Promise<void>;

  private constructor() {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  /** Starts one on a free port. */
  static start(): DeafUpstream {
    return new DeafUpstream();
  }

  /** Base URL to give Parley as `OPENAI_REALTIME_URL`. */
  get url(): string {
    return `ws://127.0.0.1:${this.#listener.addr.port}/v1/realtime`;
  }

  /** Sessions accepted so far. */
  get sessions(): number {
    return this.#conns.length;
  }

  async #accept(): Promise<void> {
    for await (const conn of this.#listener) {
      this.#conns.push(conn);
      this.#handshake(conn).catch(() => {});
    }
  }

  async #handshake(conn: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(8192);
    let text = "";
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) return;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    const key = /sec-websocket-key:\s*(\S+)/i.exec(text)?.[1] ?? "";
    const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(key + WS_GUID));
    const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
    const created = new TextEncoder().encode(JSON.stringify({ type: "session.created", event_id: "e1" }));
    const frame = new Uint8Array([0x81, created.length, ...created]); // text frame, < 126 bytes
    await conn.write(new TextEncoder().encode(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    ));
    await conn.write(frame);
    // And then: never read again.
  }

  /** Closes every connection and the listener. */
  async close(): Promise<void> {
    this.#listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
    await this.#accepting.catch(() => {});
  }
}
