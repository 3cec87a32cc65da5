import assert from "node:assert/strict";
import { createSessions, SESSION_TTL_MS } from "../../src/http/session.ts";

const TOKEN = "session-test-token-0123456789";

function withCookie(
  cookie: string,
  init: RequestInit = {},
  url = "http://localhost:4000/api/leads",
): Request {
  return new Request(url, {
    ...init,
    headers: { ...init.headers as Record<string, string>, cookie: cookie.split(";")[0]! },
  });
}

Deno.test("sessions expire after their lifetime and end on logout", async () => {
  let now = 1_000_000;
  const sessions = createSessions({
    apiToken: () => TOKEN,
    publicBaseUrl: "https://parley.example",
    now: () => now,
  });
  const cookie = await sessions.start(new Request("http://localhost:4000/login"));
  assert.match(cookie, new RegExp(`Max-Age=${SESSION_TTL_MS / 1000}$`));
  assert.equal(await sessions.authorize(withCookie(cookie)), undefined);
  now += SESSION_TTL_MS - 1;
  assert.equal(await sessions.has(withCookie(cookie)), true);
  now += 1;
  assert.equal(await sessions.has(withCookie(cookie)), false, "expired");
  assert.equal((await sessions.authorize(withCookie(cookie)))?.status, 401);

  const second = await sessions.start(new Request("http://localhost:4000/login"));
  assert.match(await sessions.end(withCookie(second)), /Max-Age=0/);
  assert.equal(await sessions.has(withCookie(second)), false, "ended");
});

Deno.test("sessions: Secure behind an https proxy; a cleared API_TOKEN ends every session", async () => {
  let token: string | undefined = TOKEN;
  const sessions = createSessions({ apiToken: () => token, publicBaseUrl: "https://parley.example" });
  const proxied = new Request("http://localhost:4000/login", { headers: { "x-forwarded-proto": "https" } });
  const cookie = await sessions.start(proxied);
  assert.match(cookie, /; Secure$/);
  assert.doesNotMatch(await sessions.start(new Request("http://localhost:4000/login")), /Secure/);
  const post = withCookie(cookie, { method: "POST", headers: { origin: "https://parley.example" } });
  assert.equal(await sessions.authorize(post), undefined, "the public origin is this server's");
  const referer = withCookie(cookie, {
    method: "DELETE",
    headers: { referer: "http://localhost:4000/leads" },
  });
  assert.equal(await sessions.authorize(referer), undefined, "without Origin, a same-origin Referer will do");
  token = undefined;
  assert.equal((await sessions.authorize(withCookie(cookie)))?.status, 503);
});
