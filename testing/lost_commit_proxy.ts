/**
 * A TCP proxy in front of a Postgres server that can lose one COMMIT's answer: once armed, the first
 * `CommandComplete` tagged `COMMIT` the server sends is not passed on, and the client's connection is
 * cut instead. The transaction is committed, but the client sees a dropped connection: what a
 * failover, a network cut or a restart between the commit and its answer does. Everything else is
 * passed through message by message (the client must not ask for SSL: postgres.js does not by default).
 *
 * @module
 */

import { startTcpProxy, writeAll } from "./tcp_proxy.ts";

/** The proxy. */
export interface LostCommitProxy {
  /** The port clients connect to, on 127.0.0.1. */
  readonly port: number;
  /** Loses the next COMMIT's answer; resolves once it has. */
  arm(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a proxy to the Postgres server at 127.0.0.1:`serverPort`. */
export function startLostCommitProxy(serverPort: number): LostCommitProxy {
  let armed: (() => void) | undefined;

  const pipeClientToServer = async (client: Deno.Conn, server: Deno.Conn) => {
    try {
      await client.readable.pipeTo(server.writable, { preventClose: true });
    } catch { /* one side closed */ }
  };

  /** Passes the server's messages on one by one, watching for COMMIT's CommandComplete. */
  const pipeServerToClient = async (server: Deno.Conn, client: Deno.Conn, closeBoth: () => void) => {
    let buffer = new Uint8Array(0);
    const chunk = new Uint8Array(65_536);
    try {
      for (;;) {
        const n = await server.read(chunk);
        if (n === null) return;
        const joined = new Uint8Array(buffer.length + n);
        joined.set(buffer);
        joined.set(chunk.subarray(0, n), buffer.length);
        buffer = joined;
        let at = 0;
        while (buffer.length - at >= 5) {
          const length = new DataView(buffer.buffer, buffer.byteOffset + at + 1, 4).getInt32(0);
          if (buffer.length - at < 1 + length) break;
          const message = buffer.subarray(at, at + 1 + length);
          if (armed !== undefined && message[0] === 0x43 /* C */) {
            const tag = new TextDecoder().decode(message.subarray(5, message.length - 1));
            if (tag === "COMMIT") {
              const done = armed;
              armed = undefined;
              closeBoth();
              done();
              return;
            }
          }
          await writeAll(client, message);
          at += 1 + length;
        }
        buffer = buffer.slice(at);
      }
    } catch {
      /* one side closed */
    } finally {
      closeBoth();
    }
  };

  const proxy = startTcpProxy(serverPort, async (client, server, close) => {
    const closeBoth = () => {
      close(client);
      close(server);
    };
    await Promise.all([pipeClientToServer(client, server), pipeServerToClient(server, client, closeBoth)]);
  });

  return {
    port: proxy.port,
    arm() {
      return new Promise<void>((resolve) => armed = resolve);
    },
    close: () => proxy.close(),
  };
}
