/**
 * A round-robin TCP load balancer on 127.0.0.1, port 0, for the cluster tests: each new connection
 * goes to the next healthy backend (a backend whose `/healthz` answers 200, checked every
 * `healthEveryMs`, as a load balancer's health check would). It records which backend took each
 * connection, so a test knows where a call's media socket landed. Clients that want every request
 * balanced use a fresh connection per request ({@linkcode freshConnectionFetch}).
 *
 * @module
 */

/** A backend, by its port on 127.0.0.1. */
export interface Backend {
  port: number;
  /** Taken out of the rotation by the health check (or a refused connection) until it answers 200 again. */
  healthy: boolean;
}

/** The balancer; `await using` closes it. */
export interface RoundRobinProxy extends AsyncDisposable {
  /** The port clients connect to. */
  port: number;
  backends: Backend[];
  /** The backend index that took each connection, in accept order. */
  assignments: number[];
  /** Runs one health check of every backend now. */
  checkHealth(): Promise<void>;
}

/** Starts balancing over `ports`. */
export function startRoundRobinProxy(
  ports: number[],
  options: { healthEveryMs?: number } = {},
): RoundRobinProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const backends: Backend[] = ports.map((port) => ({ port, healthy: true }));
  const assignments: number[] = [];
  const open = new Set<Deno.Conn>();
  const pumps = new Set<Promise<void>>();
  let next = 0;
  let closed = false;

  const checkHealth = async () => {
    await Promise.all(backends.map(async (backend) => {
      const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
      try {
        const response = await fetch(`http://127.0.0.1:${backend.port}/healthz`, {
          client,
          signal: AbortSignal.timeout(1_000),
        });
        await response.body?.cancel();
        backend.healthy = response.status === 200;
      } catch {
        backend.healthy = false;
      } finally {
        client.close();
      }
    }));
  };
  let checking = Promise.resolve();
  const timer = setInterval(() => {
    checking = checking.then(checkHealth);
  }, options.healthEveryMs ?? 100);

  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable);
    } catch { /* a closed connection */ }
    for (const conn of [from, to]) {
      if (open.delete(conn)) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    }
  };

  /** Connects to the next healthy backend, skipping (and marking) any that refuses. */
  const connect = async (): Promise<{ conn: Deno.Conn; index: number } | undefined> => {
    for (let tries = 0; tries < backends.length; tries++) {
      const index = next++ % backends.length;
      const backend = backends[index]!;
      if (!backend.healthy) continue;
      try {
        return { conn: await Deno.connect({ hostname: "127.0.0.1", port: backend.port }), index };
      } catch {
        backend.healthy = false;
      }
    }
    return undefined;
  };

  const accepting = (async () => {
    for await (const client of listener) {
      const upstream = await connect();
      if (upstream === undefined || closed) {
        client.close();
        upstream?.conn.close();
        continue;
      }
      // As load balancers do (nginx, Caddy): no Nagle delay on either leg, or small frames wait for ACKs.
      for (const conn of [client, upstream.conn] as Deno.TcpConn[]) {
        try {
          conn.setNoDelay(true);
        } catch { /* already closed */ }
      }
      assignments.push(upstream.index);
      open.add(client);
      open.add(upstream.conn);
      const pump = Promise.all([pipe(client, upstream.conn), pipe(upstream.conn, client)]).then(() => {});
      pumps.add(pump);
      pump.then(() => pumps.delete(pump));
    }
  })().catch(() => {});

  return {
    port: (listener.addr as Deno.NetAddr).port,
    backends,
    assignments,
    checkHealth,
    async [Symbol.asyncDispose]() {
      closed = true;
      clearInterval(timer);
      await checking;
      listener.close();
      for (const conn of [...open]) {
        open.delete(conn);
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      await accepting;
      await Promise.all([...pumps]);
    },
  };
}

/** `fetch` on a connection of its own (never reused), so a balancer sees every request as new. */
export async function freshConnectionFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  try {
    const response = await fetch(url, { ...init, client });
    // Read now: the client (and its connection) closes with this call.
    const body = await response.arrayBuffer();
    const empty = response.status === 204 || response.status === 304 || response.status === 101;
    return new Response(empty ? null : body, { status: response.status, headers: response.headers });
  } finally {
    client.close();
  }
}
