/**
 * The TCP proxy the Postgres fault proxies and the pages' reconnect test share: it listens on
 * 127.0.0.1, port 0, opens a connection to the server for each client, and hands the pair to the
 * proxy's own `pump`, which decides what passes ({@linkcode passThrough}: everything). It keeps every
 * connection and pump, so `cutAll` drops the connections open now and `close` ends them all.
 *
 * @module
 */

/** A running proxy; `await using` closes it. */
export interface TcpProxy extends AsyncDisposable {
  /** The port clients connect to, on 127.0.0.1. */
  readonly port: number;
  /** Closes every connection open now (a dropped network); new ones are served as before. */
  cutAll(): void;
  /** Stops listening, closes every connection and waits for the pumps. */
  close(): Promise<void>;
}

/** What a pump gets: the two connections, and how to close one (a closed one is forgotten). */
export type Pump = (client: Deno.Conn, server: Deno.Conn, close: (conn: Deno.Conn) => void) => Promise<void>;

/** The pump that lets everything through, both ways, and closes both sides when either ends. */
export const passThrough: Pump = async (client, server, close) => {
  await Promise.allSettled([
    client.readable.pipeTo(server.writable),
    server.readable.pipeTo(client.writable),
  ]);
  close(client);
  close(server);
};

/**
 * Starts a proxy to 127.0.0.1:`serverPort` whose every client pair runs through `pump`.
 *
 * @example
 * ```ts
 * const proxy = startTcpProxy(5432, async (client, server, close) => {
 *   await Promise.all([client.readable.pipeTo(server.writable), server.readable.pipeTo(client.writable)]);
 *   close(client);
 *   close(server);
 * });
 * await proxy.close();
 * ```
 */
export function startTcpProxy(serverPort: number, pump: Pump): TcpProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const pumps = new Set<Promise<void>>();
  const close = (conn: Deno.Conn) => {
    conns.delete(conn);
    try {
      conn.close();
    } catch { /* closed */ }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      let server: Deno.Conn;
      try {
        server = await Deno.connect({ hostname: "127.0.0.1", port: serverPort });
      } catch {
        client.close();
        continue;
      }
      conns.add(client);
      conns.add(server);
      const pumping = pump(client, server, close).catch(() => {});
      pumps.add(pumping);
      pumping.finally(() => pumps.delete(pumping));
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    cutAll() {
      for (const conn of [...conns]) close(conn);
    },
    async close() {
      listener.close();
      for (const conn of [...conns]) close(conn);
      await accepting;
      await Promise.allSettled([...pumps]);
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}

/** Writes all of `bytes` to `conn` (a write may take only part of them). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}
