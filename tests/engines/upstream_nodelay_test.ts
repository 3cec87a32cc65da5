/**
 * The socket toward OpenAI must not sit behind Nagle's algorithm: a child process opens it with
 * Parley's connector under strace, and the test reads its setsockopt(TCP_NODELAY) calls. The
 * native WebSocket client is the control: it sets TCP_NODELAY=0, so the check can fail.
 */

import assert from "node:assert/strict";

const hasStrace = await new Deno.Command("strace", { args: ["-V"], stdout: "null", stderr: "null" }).output()
  .then((o) => o.success, () => false);

const CHILD = `
import { connectOpenAI as connectRealtime } from "${
  new URL("../../src/engines/upstream_socket.ts", import.meta.url).href
}";
const [url, kind] = Deno.args;
await new Promise((resolve) => {
  if (kind === "native") {
    const ws = new WebSocket(url);
    ws.onopen = () => { ws.send("x"); ws.close(); };
    ws.onclose = resolve;
    return;
  }
  const up = connectRealtime({ url, apiKey: "sk-test" }, {
    onOpen: () => { up.send("x"); up.close(); },
    onMessage() {}, onClose: resolve, onFailure: resolve,
  });
});
`;

async function nodelayValues(kind: "parley" | "native", url: string): Promise<string[]> {
  const dir = await Deno.makeTempDir();
  try {
    const child = `${dir}/child.ts`;
    await Deno.writeTextFile(child, CHILD);
    const config = new URL("../../deno.json", import.meta.url).pathname;
    const output = await new Deno.Command("strace", {
      args: [
        "-f",
        "-e",
        "trace=setsockopt",
        Deno.execPath(),
        "run",
        "-q",
        "--config",
        config,
        "-A",
        child,
        url,
        kind,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const trace = new TextDecoder().decode(output.stderr);
    return [...trace.matchAll(/TCP_NODELAY, \[(\d)\]/g)].map((m) => m[1]!);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "the upstream socket to OpenAI sets TCP_NODELAY (Nagle off), unlike Deno's native client",
  ignore: !hasStrace,
  async fn() {
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      const { socket, response } = Deno.upgradeWebSocket(request);
      socket.onmessage = () => {};
      return response;
    });
    try {
      const url = `ws://127.0.0.1:${server.addr.port}/v1/realtime?model=m`;
      assert.deepEqual(await nodelayValues("parley", url), ["1"]);
      assert.deepEqual(
        await nodelayValues("native", url),
        ["0"],
        "control: the native client turns Nagle on",
      );
    } finally {
      await server.shutdown();
    }
  },
});
