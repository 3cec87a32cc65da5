/**
 * A TCP proxy in front of a Postgres server that hides a connection's end from the client until the
 * client next uses it: when the server ends a session (a restart, a failover, `pg_terminate_backend`),
 * the client's socket stays open and idle, as it does when the end does not reach it (a load balancer
 * or NAT in between, a failover to a standby at the same address, a host that went away); the next
 * bytes the client sends on it are answered by a cut (no reply), so its first query there fails on
 * the connection, as in production just after Postgres is back. A connection the server ends before
 * it answered anything (one opened while Postgres was stopping or starting) is ended for the client
 * at once, as a refused connect is: only established sessions die silently, which is what the tests
 * behind this proxy are about. Everything else passes through as is.
 *
 * @module
 */

import { startTcpProxy, writeAll } from "./tcp_proxy.ts";

/** The proxy. */
export interface SilentDropProxy {
  /** The port clients connect to, on 127.0.0.1. */
  readonly port: number;
  /** Client connections cut so far because their session had ended (a query was lost on each). */
  readonly cut: number;
  close(): Promise<void>;
}

/** Starts a proxy to the Postgres server at 127.0.0.1:`serverPort`. */
export function startSilentDropProxy(serverPort: number): SilentDropProxy {
  let cut = 0;
  const proxy = startTcpProxy(serverPort, async (client, server, close) => {
    let serverGone = false;
    let answered = false;
    const fromServer = (async () => {
      try {
        await server.readable.pipeThrough(
          new TransformStream({
            transform(chunk, controller) {
              answered = true;
              controller.enqueue(chunk);
            },
          }),
        ).pipeTo(client.writable, { preventClose: true });
      } catch { /* one side closed */ }
      serverGone = true;
      close(server);
      // A session that ended: the client is not told (its socket stays open) until it writes again.
      // A connect the server never answered: ended now, as a refused one.
      if (!answered) close(client);
    })();
    const buffer = new Uint8Array(65_536);
    try {
      for (;;) {
        const n = await client.read(buffer);
        if (n === null) break;
        if (serverGone) {
          cut++;
          break;
        }
        await writeAll(server, buffer.subarray(0, n));
      }
    } catch { /* one side closed */ }
    close(client);
    close(server);
    await fromServer;
  });
  return {
    port: proxy.port,
    get cut() {
      return cut;
    },
    close: () => proxy.close(),
  };
}
