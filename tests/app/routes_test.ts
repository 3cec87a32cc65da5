/**
 * The route table (`src/app/routes.ts`): read as data, every row has a guard and a body limit, and
 * nothing that changes state is open; served over a real socket, each row's guard and body limit
 * really run before its handler.
 */

import assert from "node:assert/strict";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { type HandlerName, ROUTES } from "../../src/app/routes.ts";
import type { RouteHandler } from "../../src/app/router.ts";
import { BodyTooLargeError } from "../../src/http/body.ts";
import { routeSubset } from "../../testing/route_subset.ts";
import { startTestParley } from "../../testing/parley_harness.ts";

const GUARDS = new Set([
  "none",
  "twilio",
  "bearerOrSession",
  "signedLinkOrBearer",
  "sessionSameOrigin",
  "sameOrigin",
  "signedInPage",
  "bearerUnlessPublic",
]);
const API_TOKEN = "routes-test-token-0123456789";
const TWILIO_TOKEN = "routes-test-twilio-token-0123";

Deno.test("every route has a guard and a body limit; no state change is open", () => {
  const seen = new Set<string>();
  for (const row of ROUTES) {
    const where = `${row.method} ${row.path}`;
    assert.ok(!seen.has(where), `${where} is in the table twice`);
    seen.add(where);
    assert.ok(
      GUARDS.has(row.guard),
      `${where}: guard "${row.guard}" is not one of ${[...GUARDS].join(", ")}`,
    );
    if (row.method === "GET") {
      assert.ok(row.bodyLimit === "none" || row.bodyLimit === "websocket", `${where}: a GET reads no body`);
    } else {
      assert.equal(typeof row.bodyLimit, "number", `${where}: a ${row.method} needs a body limit in bytes`);
      assert.ok((row.bodyLimit as number) > 0 && (row.bodyLimit as number) <= 1024 * 1024, where);
      // Sign-in too: its origin check is its row's guard, not code of its own (issue 18 §1).
      assert.notEqual(row.guard, "none", `${where} changes state with no guard`);
    }
  }
  // The sign-in form has its limit (issue 18: it had none once).
  assert.equal(ROUTES.find((r) => r.method === "POST" && r.path === "/login")?.bodyLimit, 8 * 1024);
});

/** Serves every row of the table on a spy handler that records what reached it. */
function serveSpies() {
  const reached: string[] = [];
  const handlers = {} as Record<HandlerName, RouteHandler>;
  for (const row of ROUTES) {
    handlers[row.handler] = async (request, { form }) => {
      reached.push(`${request.method} ${new URL(request.url).pathname}`);
      try {
        // A Twilio route's guard has read the body already, to check the signature over the form.
        const bytes = request.body === null || request.bodyUsed
          ? 0
          : (await new Response(request.body).arrayBuffer()).byteLength;
        return Response.json({ read: bytes, form });
      } catch (error) {
        if (error instanceof BodyTooLargeError) {
          return Response.json({ cutAt: error.maxBytes }, { status: 413 });
        }
        throw error;
      }
    };
  }
  const route = routeSubset(handlers, {
    apiToken: API_TOKEN,
    publicBaseUrl: "https://parley.test",
    twilioAuthToken: TWILIO_TOKEN,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => route(request));
  return { origin: `http://127.0.0.1:${server.addr.port}`, reached, server };
}

/** A concrete path for a table path (`:name` → a value, `/*` → a file). */
function concrete(path: string): string {
  return path.replace(/:callSid/g, `CA${"0".repeat(32)}`).replace(/:id/g, "7").replace(/\/\*$/, "/app.css");
}

Deno.test("a body over a route's limit is refused with 413 before its guard and handler run", async (t) => {
  const { origin, reached, server } = serveSpies();
  try {
    for (const row of ROUTES.filter((r) => typeof r.bodyLimit === "number")) {
      const limit = row.bodyLimit as number;
      await t.step(`${row.method} ${row.path}: declared ${limit + 1} bytes`, async () => {
        // No credentials at all: the limit answers before the guard would.
        const response = await fetch(`${origin}${concrete(row.path)}`, {
          method: row.method,
          headers: { "content-type": "application/octet-stream" },
          body: new Uint8Array(limit + 1),
        });
        assert.equal(response.status, 413);
        assert.match((await response.json()).error, new RegExp(`larger than ${limit} bytes`));
        assert.deepEqual(reached, []);
      });
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("a streamed body is cut off at the route's limit: the handler never reads past it", async () => {
  const { origin, reached, server } = serveSpies();
  try {
    const row = ROUTES.find((r) => r.handler === "createLead")!;
    const limit = row.bodyLimit as number;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 4 * limit) return controller.close();
        sent += 1024;
        controller.enqueue(new Uint8Array(1024));
      },
    });
    const response = await fetch(`${origin}${row.path}`, {
      method: row.method,
      headers: { authorization: `Bearer ${API_TOKEN}` },
      body,
    });
    assert.equal(response.status, 413);
    assert.deepEqual(await response.json(), { cutAt: limit });
    assert.deepEqual(reached, [`${row.method} ${row.path}`]);
    // Within the limit, the handler reads the whole body.
    const fits = await fetch(`${origin}${row.path}`, {
      method: row.method,
      headers: { authorization: `Bearer ${API_TOKEN}` },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new Uint8Array(limit));
          controller.close();
        },
      }),
    });
    assert.deepEqual(await fits.json(), { read: limit, form: {} });
  } finally {
    await server.shutdown();
  }
});

/** What each guard answers a request that brings nothing (no token, cookie, signature or Origin). */
const REFUSED: Record<string, number> = {
  twilio: 403,
  bearerOrSession: 401,
  signedLinkOrBearer: 401,
  sessionSameOrigin: 401,
  sameOrigin: 403,
  signedInPage: 303,
  bearerUnlessPublic: 401,
};

Deno.test("every guarded route refuses a request without credentials before its handler runs", async (t) => {
  const { origin, reached, server } = serveSpies();
  try {
    for (const row of ROUTES.filter((r) => r.guard !== "none")) {
      await t.step(`${row.method} ${row.path}: ${row.guard}`, async () => {
        const response = await fetch(`${origin}${concrete(row.path)}`, {
          method: row.method,
          redirect: "manual",
          headers: row.bodyLimit === "websocket" ? { upgrade: "websocket", connection: "upgrade" } : {},
          ...(row.method === "GET" ? {} : { body: "x=1" }),
        });
        await response.body?.cancel();
        assert.equal(response.status, REFUSED[row.guard]);
        if (row.guard === "signedInPage") assert.match(response.headers.get("location")!, /^\/login\?next=/);
        assert.deepEqual(reached, []);
      });
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("a guard lets the right credentials through to the handler, with the form Twilio signed", async () => {
  const { origin, reached, server } = serveSpies();
  try {
    const bearer = await fetch(`${origin}/api/leads/7`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    assert.deepEqual(await bearer.json(), { read: 0, form: {} });
    const form = { CallSid: `CA${"1".repeat(32)}`, CallStatus: "ringing" };
    const signed = await fetch(`${origin}/api/twilio/status`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": getExpectedTwilioSignature(
          TWILIO_TOKEN,
          "https://parley.test/api/twilio/status",
          form,
        ),
      },
      body: new URLSearchParams(form),
    });
    // The guard read the form and handed it over: the handler has nothing left to read.
    assert.deepEqual(await signed.json(), { read: 0, form });
    assert.deepEqual(reached, ["GET /api/leads/7", "POST /api/twilio/status"]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a path that matches with another method is 405 naming the methods it takes", async () => {
  const { origin, reached, server } = serveSpies();
  try {
    const response = await fetch(`${origin}/api/leads/7`, { method: "PUT", body: "{}" });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "GET, PATCH, DELETE");
    assert.match((await response.json()).error, /Method PUT is not allowed here: use GET or PATCH or DELETE/);
    assert.deepEqual(reached, []);
  } finally {
    await server.shutdown();
  }
});

Deno.test("the server runs the table: each body limit holds on createParley's own routes", async () => {
  const parley = await startTestParley({ env: { API_TOKEN } });
  try {
    for (const row of ROUTES.filter((r) => typeof r.bodyLimit === "number")) {
      const limit = row.bodyLimit as number;
      const response = await fetch(`${parley.origin}${concrete(row.path)}`, {
        method: row.method,
        headers: { authorization: `Bearer ${API_TOKEN}`, origin: parley.origin },
        body: new Uint8Array(limit + 1),
      });
      assert.equal(response.status, 413, `${row.method} ${row.path}`);
      await response.body?.cancel();
    }
    assert.deepEqual(parley.events, [], "no route did anything");
  } finally {
    await parley.close();
  }
});
