/**
 * The cluster bench's load balancer: `testing/round_robin_proxy.ts` in a subprocess of its own, so
 * that moving the calls' bytes costs the load generator nothing and its CPU time can be read apart.
 *
 * `deno run --allow-net=127.0.0.1 bench/_proxy_main.ts --backends=PORT,PORT,…` prints
 * `Round-robin proxy listening on port <port>`; SIGTERM closes it.
 *
 * @module
 */

import { startRoundRobinProxy } from "../testing/round_robin_proxy.ts";

const given = Deno.args.find((arg) => arg.startsWith("--backends="))?.slice("--backends=".length) ?? "";
const ports = given.split(",").map(Number);
if (given === "" || ports.some((port) => !Number.isInteger(port) || port < 1 || port > 65535)) {
  console.error(`--backends: "${given.slice(0, 80)}" is not a comma-separated list of ports`);
  Deno.exit(2);
}
// No instance drains in the bench: no health checks (on a loaded machine a /healthz slower than the
// check's 1 s would take the only instance out of the rotation and fail calls). A refused connection
// still takes a backend out.
const proxy = startRoundRobinProxy(ports, { healthEveryMs: 2 ** 31 - 1 });
let stopping: Promise<void> | undefined;
const stop = () => {
  stopping ??= (async () => {
    await proxy[Symbol.asyncDispose]();
    Deno.exit(0);
  })();
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
console.log(`Round-robin proxy listening on port ${proxy.port}`);
