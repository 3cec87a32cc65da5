import assert from "node:assert/strict";
import { discoverNgrokUrl } from "../../src/twilio/ngrok.ts";

/** A fake ngrok agent API answering `/api/tunnels` with `body` (or `status`). */
function fakeAgent(body: unknown, status = 200) {
  const paths: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    paths.push(new URL(req.url).pathname);
    return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  });
  return { server, paths, apiUrl: `http://127.0.0.1:${server.addr.port}` };
}

const TUNNELS = {
  tunnels: [
    { public_url: "http://other.ngrok.app", proto: "http", config: { addr: "http://localhost:4000" } },
    { public_url: "https://other.ngrok.app", proto: "https", config: { addr: "http://localhost:8080" } },
    { public_url: "https://parley.ngrok.app/", proto: "https", config: { addr: "http://localhost:4000" } },
  ],
  uri: "/api/tunnels",
};

Deno.test("discoverNgrokUrl returns the https tunnel forwarding to the port", async () => {
  const agent = fakeAgent(TUNNELS);
  try {
    assert.equal(await discoverNgrokUrl(agent.apiUrl, { port: 4000 }), "https://parley.ngrok.app");
    assert.deepEqual(agent.paths, ["/api/tunnels"]);
  } finally {
    await agent.server.shutdown();
  }
});

Deno.test("discoverNgrokUrl falls back to the first https tunnel", async (t) => {
  const agent = fakeAgent(TUNNELS);
  try {
    await t.step("without a port", async () => {
      assert.equal(await discoverNgrokUrl(agent.apiUrl), "https://other.ngrok.app");
    });
    await t.step("when no tunnel forwards to the port", async () => {
      assert.equal(await discoverNgrokUrl(`${agent.apiUrl}/`, { port: 9999 }), "https://other.ngrok.app");
    });
  } finally {
    await agent.server.shutdown();
  }
});

Deno.test("discoverNgrokUrl reads bare port and host:port addresses", async () => {
  const agent = fakeAgent({
    tunnels: [
      { public_url: "https://a.ngrok.app", proto: "https", config: { addr: "localhost:5000" } },
      { public_url: "https://b.ngrok.app", proto: "https", config: { addr: "4000" } },
    ],
  });
  try {
    assert.equal(await discoverNgrokUrl(agent.apiUrl, { port: 4000 }), "https://b.ngrok.app");
    assert.equal(await discoverNgrokUrl(agent.apiUrl, { port: 5000 }), "https://a.ngrok.app");
  } finally {
    await agent.server.shutdown();
  }
});

Deno.test("discoverNgrokUrl gives undefined when there is nothing to use", async (t) => {
  await t.step("no https tunnel", async () => {
    const agent = fakeAgent({
      tunnels: [{ public_url: "tcp://0.tcp.ngrok.io:1234", proto: "tcp", config: {} }],
    });
    try {
      assert.equal(await discoverNgrokUrl(agent.apiUrl), undefined);
    } finally {
      await agent.server.shutdown();
    }
  });

  await t.step("an error answer", async () => {
    const agent = fakeAgent({ error_code: 100, msg: "not found" }, 404);
    try {
      assert.equal(await discoverNgrokUrl(agent.apiUrl), undefined);
    } finally {
      await agent.server.shutdown();
    }
  });

  await t.step("an answer that is not the tunnels list", async () => {
    const agent = fakeAgent(["https://x.ngrok.app"]);
    try {
      assert.equal(await discoverNgrokUrl(agent.apiUrl), undefined);
    } finally {
      await agent.server.shutdown();
    }
  });

  await t.step("no agent running", async () => {
    const closed = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response());
    const apiUrl = `http://127.0.0.1:${closed.addr.port}`;
    await closed.shutdown();
    assert.equal(await discoverNgrokUrl(apiUrl), undefined);
  });

  await t.step("an agent that does not answer in time", async () => {
    const { promise: release, resolve } = Promise.withResolvers<void>();
    const slow = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
      await release;
      return Response.json(TUNNELS);
    });
    try {
      const started = performance.now();
      assert.equal(
        await discoverNgrokUrl(`http://127.0.0.1:${slow.addr.port}`, { timeoutMs: 50 }),
        undefined,
      );
      assert.ok(performance.now() - started < 1_000, "the lookup must give up at its timeout");
    } finally {
      resolve();
      await slow.shutdown();
    }
  });
});
