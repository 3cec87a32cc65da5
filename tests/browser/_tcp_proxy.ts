/**
 * A TCP pass-through on 127.0.0.1, port 0, whose open connections a test can cut at once, to show
 * that the pages recover from a dropped connection.
 *
 * @module
 */

/** The proxy; `await using` closes it. */
export interface TcpProxy extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`. */
  origin: string;
  /** Closes every connection open now; new ones are served as before. */
  cutAll(): void;
}

/** Forwards every connection to `target` (`host:port`). */
export function startTcpProxy(target: { hostname: string; port: number }): TcpProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const pumps = new Set<Promise<void>>();
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable, { preventClose: false });
    } catch { /* a cut connection */ }
    for (const conn of [from, to]) {
      if (open.delete(conn)) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      const upstream = await Deno.connect(target);
      open.add(client);
      open.add(upstream);
      const pump = Promise.all([pipe(client, upstream), pipe(upstream, client)]).then(() => {});
      pumps.add(pump);
      pump.then(() => pumps.delete(pump));
    }
  })().catch(() => {});
  return {
    origin: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    cutAll() {
      for (const conn of [...open]) {
        open.delete(conn);
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      this.cutAll();
      await accepting;
      await Promise.all([...pumps]);
    },
  };
}
