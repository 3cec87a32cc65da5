/**
 * Behind a proxy on another host (a load balancer in front of several instances), every request's
 * peer is the proxy. Without `TRUSTED_PROXIES` Parley ignores that proxy's `X-Forwarded-For`, so all
 * its clients are one address for the guess throttle; with the proxy listed, each client is its own.
 * IPv6 clients are throttled by their /64, so rotating addresses inside it gains nothing.
 *
 * The proxy here is a real HTTP reverse proxy that appends its peer to `X-Forwarded-For`, as Caddy
 * does, and reaches Parley on this machine's own non-loopback IPv4 address, so Parley's peer is not
 * loopback. Its clients: the guesser on this machine's non-loopback IPv6 address (a client that is
 * no proxy of any kind), the good client on 127.0.0.3.
 */

import assert from "node:assert/strict";
import { MAX_AUTH_FAILURES } from "../../src/http/auth_throttle.ts";
import { clientBlock, formatIp, parseHop, parseIp } from "../../src/http/ip_address.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { startTestParley, TEST_OPENAI_KEY, type TestParley } from "../../testing/parley_harness.ts";

const API_TOKEN = "trusted-proxies-token-0123456789abcdef";

const interfaces = Deno.networkInterfaces();
/** This machine's first non-loopback IPv4 address: the proxy reaches Parley from it. */
const LAN_V4 = interfaces.find((i) => i.family === "IPv4" && !i.address.startsWith("127."))?.address;
/** This machine's first non-loopback, non-link-local IPv6 address: the guessing client's. */
const LAN_V6 = interfaces.find((i) =>
  i.family === "IPv6" && i.address !== "::1" && !/^fe[89ab]/i.test(i.address)
)
  ?.address;
const NO_LAN = LAN_V4 === undefined || LAN_V6 === undefined;
const SKIPPED = NO_LAN
  ? " (skipped: this machine needs a non-loopback IPv4 and a non-link-local IPv6 address for a remote proxy and client)"
  : "";
/** The guessing client: not loopback, so never a trusted proxy by default. */
const GUESSER = LAN_V6!;
/** The client with the right token. */
const GOOD = "127.0.0.3";

/** Parley served on `LAN_V4`, and a forwarding proxy (on 127.0.0.1 and `LAN_V6`) in front of it. */
async function withProxiedParley(
  env: Record<string, string>,
  body: (
    t: TestParley,
    via: (from: string, path: string, init?: RequestInit) => Promise<Response>,
  ) => Promise<void>,
) {
  const t = await startTestParley({ env: { API_TOKEN, ...env } });
  const lan = Deno.serve({ hostname: LAN_V4!, port: 0, onListen() {} }, t.parley.handler);
  const upstream = `http://${LAN_V4}:${lan.addr.port}`;
  const forward = async (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => {
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    const before = headers.get("x-forwarded-for");
    const peer = info.remoteAddr.hostname;
    headers.set("x-forwarded-for", before === null ? peer : `${before}, ${peer}`);
    const answer = await fetch(`${upstream}${url.pathname}${url.search}`, {
      method: request.method,
      headers,
      body: request.body,
    });
    return new Response(await answer.arrayBuffer(), { status: answer.status, headers: answer.headers });
  };
  const proxies = [
    Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, forward),
    Deno.serve({ hostname: LAN_V6!, port: 0, onListen() {} }, forward),
  ];
  const clients = new Map<string, Deno.HttpClient>();
  const via = async (from: string, path: string, init: RequestInit = {}) => {
    let client = clients.get(from);
    if (client === undefined) clients.set(from, client = Deno.createHttpClient({ localAddress: from }));
    const proxy = from.includes(":")
      ? `[${LAN_V6}]:${proxies[1]!.addr.port}`
      : `127.0.0.1:${proxies[0]!.addr.port}`;
    const answer = await fetch(`http://${proxy}${path}`, { ...init, client });
    await answer.body?.cancel();
    return answer;
  };
  try {
    await body(t, via);
  } finally {
    for (const client of clients.values()) client.close();
    for (const proxy of proxies) await proxy.shutdown();
    await lan.shutdown();
    await t.close();
  }
}

const bearer = (token: string, forwardedFor?: string): RequestInit => ({
  headers: {
    authorization: `Bearer ${token}`,
    ...(forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor }),
  },
});

Deno.test({
  name:
    `trusted proxies: without TRUSTED_PROXIES, one client's guesses through a remote proxy lock out everyone${SKIPPED}`,
  ignore: NO_LAN,
  async fn() {
    await withProxiedParley({}, async (t, via) => {
      for (let i = 0; i < MAX_AUTH_FAILURES; i++) {
        assert.equal((await via(GUESSER, "/api/personas", bearer(`guess-${i}`))).status, 401);
      }
      // Documented: the proxy is every client's address, so the good client waits too.
      assert.equal((await via(GOOD, "/api/personas", bearer(API_TOKEN))).status, 429);
      await t.waitForLog(new RegExp(`Failed bearer token from ${LAN_V4!.replaceAll(".", "\\.")} `));
      assert.ok(
        t.logs.some((l) =>
          l.line.includes(
            `Ignored X-Forwarded-For from ${LAN_V4}, which is not in TRUSTED_PROXIES: if it is your proxy`,
          )
        ),
        "the log says which proxy to list",
      );
    });
  },
});

Deno.test({
  name: `trusted proxies: with the proxy in TRUSTED_PROXIES only the guessing client is locked out${SKIPPED}`,
  ignore: NO_LAN,
  async fn() {
    await withProxiedParley({ TRUSTED_PROXIES: `10.9.8.0/24, ${LAN_V4}` }, async (t, via) => {
      for (let i = 0; i < MAX_AUTH_FAILURES; i++) {
        assert.equal((await via(GUESSER, "/api/personas", bearer(`guess-${i}`))).status, 401);
      }
      assert.equal((await via(GUESSER, "/api/personas", bearer(API_TOKEN))).status, 429, "the guesser waits");
      assert.equal((await via(GOOD, "/api/personas", bearer(API_TOKEN))).status, 200, "others go on");
      assert.ok(
        t.logs.every((l) => !l.line.includes("Ignored X-Forwarded-For")),
        "no hint for a listed proxy",
      );
      await t.waitForLog(new RegExp(`Failed bearer token from ${GUESSER} on GET /api/personas \\(1 of 10`));
      await t.waitForLog(
        new RegExp(`Refused bearer token from ${GUESSER} \\(network ${clientBlock(GUESSER)}\\) for \\d+ s`),
      );
      // A client cannot pick its own address: what it writes is left of the hop the proxy appends.
      assert.equal(
        (await via(GUESSER, "/api/personas", bearer(API_TOKEN, "198.51.100.9"))).status,
        429,
        "a forged X-Forwarded-For does not unblock the guesser",
      );
    });
  },
});

Deno.test({
  name: `trusted proxies: an IPv6 client is throttled by its /64, another /64 goes on${SKIPPED}`,
  ignore: NO_LAN,
  async fn() {
    // Two proxies in a chain: an outer balancer (at LAN_V6) writes the client, the inner proxy appends
    // the balancer. Both are trusted, so the client is the right-most hop that is neither; what the
    // client itself wrote further left (198.51.100.x) is ignored.
    await withProxiedParley({ TRUSTED_PROXIES: `${LAN_V4}, ${LAN_V6}` }, async (t, via) => {
      const balancer = LAN_V6!;
      const from = (client: string, token: string, i = 0) => bearer(token, `198.51.100.${i}, ${client}`);
      for (let i = 0; i < MAX_AUTH_FAILURES; i++) {
        const guess = from(`2001:db8:1:2::${i + 1}`, `guess-${i}`, i);
        assert.equal((await via(balancer, "/api/personas", guess)).status, 401, `guess ${i}`);
      }
      const sameNetwork = from("2001:db8:1:2:ffff:1:2:3", API_TOKEN);
      assert.equal(
        (await via(balancer, "/api/personas", sameNetwork)).status,
        429,
        "a new address of the /64",
      );
      const otherNetwork = from("2001:db8:1:3::1", API_TOKEN);
      assert.equal((await via(balancer, "/api/personas", otherNetwork)).status, 200, "another /64 goes on");
      assert.equal(
        (await via(GOOD, "/api/personas", bearer(API_TOKEN))).status,
        200,
        "an IPv4 client goes on",
      );
      await t.waitForLog(/Failed bearer token from 2001:db8:1:2::1 on GET/);
      await t.waitForLog(
        /Refused bearer token from 2001:db8:1:2:ffff:1:2:3 \(network 2001:db8:1:2::\/64\) for \d+ s/,
      );
      assert.ok(
        t.logs.every((l) => !l.line.includes("198.51.100.")),
        "a hop left of the client is never used",
      );
    });
  },
});

Deno.test("trusted proxies: TRUSTED_PROXIES takes addresses and CIDR ranges, and names each bad entry", () => {
  const base = { OPENAI_API_KEY: TEST_OPENAI_KEY };
  const config = loadConfig({
    ...base,
    TRUSTED_PROXIES: " 10.0.0.5, 10.0.1.0/24,fd00::/8 , ::ffff:192.0.2.0/120,",
  });
  assert.deepEqual(
    config.trustedProxies.map((r) => `${formatIp(r.base)}/${r.prefix}`),
    ["10.0.0.5/32", "10.0.1.0/24", "fd00::/8", "192.0.2.0/24"],
  );
  assert.deepEqual(loadConfig(base).trustedProxies, [], "none unless set: loopback only");
  assert.throws(
    () =>
      loadConfig({
        ...base,
        TRUSTED_PROXIES: "10.0.0.5, caddy.internal, 10.0.0.0/33, 10.0.0.256, fd00::/129",
      }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(
        error.problems.map((p) =>
          /^TRUSTED_PROXIES: "([^"]*)" is not an IP address or CIDR range/.exec(p)?.[1]
        ),
        ["caddy.internal", "10.0.0.0/33", "10.0.0.256", "fd00::/129"],
      );
      return true;
    },
  );
});

Deno.test("trusted proxies: addresses are read strictly and keyed by client block", () => {
  const canonical = (text: string) => {
    const ip = parseHop(text);
    return ip === undefined ? undefined : formatIp(ip);
  };
  assert.equal(canonical("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
  assert.equal(canonical("[2001:db8::1]:443"), "2001:db8::1");
  assert.equal(canonical("203.0.113.7:51234"), "203.0.113.7");
  assert.equal(canonical("::ffff:203.0.113.7"), "203.0.113.7", "an IPv4-mapped address is its IPv4");
  assert.equal(canonical("fe80::1%eth0"), "fe80::1");
  assert.equal(canonical("1:0:0:2:0:0:0:3"), "1:0:0:2::3", "the longest zero run is ::");
  for (
    const bad of ["", "unknown", "1.2.3", "01.2.3.4", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "a.b.c.d"]
  ) {
    assert.equal(parseIp(bad), undefined, bad);
  }
  assert.equal(clientBlock("203.0.113.7"), "203.0.113.7");
  assert.equal(clientBlock("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  assert.equal(clientBlock("2001:db8:1:2::9"), clientBlock("2001:db8:1:2:ffff::"));
  assert.notEqual(clientBlock("2001:db8:1:2::9"), clientBlock("2001:db8:1:3::9"));
  assert.equal(clientBlock("::ffff:10.0.0.1"), "10.0.0.1");
});
