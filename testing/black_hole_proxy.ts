/**
 * A TCP proxy in front of a Postgres server that can swallow new connections: while it is down, a
 * client's connection is accepted and its bytes read, but nothing reaches the server and nothing comes
 * back (as behind a load balancer or a NAT during a failover), so the client's connect hangs until its
 * own timeout. Connections made while it is up pass through as is, before and after.
 *
 * @module
 */

import { startTcpProxy } from "./tcp_proxy.ts";

/** The proxy, and its switch. */
export interface BlackHoleProxy {
  /** The port clients connect to, on 127.0.0.1. */
  readonly port: number;
  /** True while new connections are swallowed. */
  down: boolean;
  /** Resolves once a connection is swallowed (from this call on). */
  swallowed(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a proxy to the server at 127.0.0.1:`serverPort`, up. */
export function startBlackHoleProxy(serverPort: number): BlackHoleProxy {
  let waiters: (() => void)[] = [];
  let down = false;
  const proxy = startTcpProxy(serverPort, async (client, server, close) => {
    if (down) {
      // The server connection the proxy opened goes unused; the client hears nothing.
      close(server);
      for (const resolve of waiters.splice(0)) resolve();
      const sink = new Uint8Array(4096);
      try {
        while ((await client.read(sink)) !== null) { /* swallowed */ }
      } catch { /* closed */ }
      close(client);
      return;
    }
    await Promise.allSettled([
      client.readable.pipeTo(server.writable),
      server.readable.pipeTo(client.writable),
    ]);
    close(client);
    close(server);
  });
  return {
    port: proxy.port,
    get down() {
      return down;
    },
    set down(value: boolean) {
      down = value;
    },
    swallowed: () => new Promise((resolve) => waiters.push(resolve)),
    close: async () => {
      waiters = [];
      await proxy.close();
    },
  };
}
