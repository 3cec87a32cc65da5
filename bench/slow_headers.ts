/**
 * How long `Deno.serve` holds a connection whose request headers never finish (slowloris): one
 * socket sends a request line and one header then goes quiet, another trickles a header a second.
 * Prints, for each, when the server closed it, or that it was still open when the probe gave up.
 * Deno 2.9.6 has no header-timeout option in `Deno.serve`; this measures what that means.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 bench/slow_headers.ts            # gives up after 120 s
 * deno run --allow-net=127.0.0.1 bench/slow_headers.ts --hold=30
 * ```
 *
 * @module
 */

const holdS = Number(Deno.args.find((a) => a.startsWith("--hold="))?.slice("--hold=".length) ?? 120);
const encoder = new TextEncoder();

const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("ok"));

/** Opens a socket, starts a request, and resolves with how long the server kept it, s (or null). */
async function probe(trickle: boolean): Promise<number | null> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const start = performance.now();
  await conn.write(encoder.encode("GET / HTTP/1.1\r\nHost: parley.test\r\n"));
  const trickler = trickle
    ? setInterval(() => conn.write(encoder.encode("X-Slow: 1\r\n")).catch(() => {}), 1_000)
    : undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const gaveUp = new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), holdS * 1000));
  const closed = conn.read(new Uint8Array(512)).then(
    () => (performance.now() - start) / 1000,
    () => (performance.now() - start) / 1000,
  );
  const result = await Promise.race([closed, gaveUp]);
  clearTimeout(timer);
  clearInterval(trickler);
  conn.close();
  return result;
}

console.log(`Deno ${Deno.version.deno}: two slow-header sockets, giving up after ${holdS} s`);
const [idle, trickling] = await Promise.all([probe(false), probe(true)]);
const say = (s: number | null) =>
  s === null ? `still open after ${holdS} s` : `closed by the server after ${s.toFixed(1)} s`;
console.log(`idle after one header:      ${say(idle)}`);
console.log(`one header every second:    ${say(trickling)}`);
await server.shutdown();
