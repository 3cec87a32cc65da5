/**
 * Token guessing is slowed per client address: after 10 failed sign-ins or wrong bearer tokens in a
 * minute, that address gets 429 with Retry-After (even with the right token) while others go on;
 * failures are logged with the address, never the token offered.
 */

import assert from "node:assert/strict";
import { AUTH_FAILURE_WINDOW_MS, MAX_AUTH_FAILURES } from "../../src/http/auth_throttle.ts";
import { FailureLimiter } from "../../src/http/rate_limit.ts";
import { startTestParley, type TestParley } from "../../testing/parley_harness.ts";

const API_TOKEN = "auth-throttle-token-0123456789abcdef";

async function withParley(body: (t: TestParley) => Promise<void>) {
  const t = await startTestParley({ env: { API_TOKEN } });
  try {
    await body(t);
  } finally {
    await t.close();
  }
}

async function status(response: Promise<Response>): Promise<Response> {
  const answer = await response;
  await answer.body?.cancel();
  return answer;
}

Deno.test("auth throttle: wrong bearer tokens block the address with 429 + Retry-After", async () => {
  await withParley(async (t) => {
    const leads = (token: string, forwardedFor?: string) =>
      status(fetch(`${t.origin}/api/personas`, {
        headers: {
          authorization: `Bearer ${token}`,
          ...(forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor }),
        },
      }));
    for (let i = 0; i < MAX_AUTH_FAILURES; i++) {
      assert.equal((await leads(`guess-${i}-secret-guess`)).status, 401, `guess ${i}`);
    }
    const blocked = await leads("guess-next-secret-guess");
    assert.equal(blocked.status, 429);
    const retryAfter = Number(blocked.headers.get("retry-after"));
    assert.ok(retryAfter >= 1 && retryAfter <= AUTH_FAILURE_WINDOW_MS / 1000, `Retry-After ${retryAfter}`);
    assert.equal((await leads(API_TOKEN)).status, 429, "the right token waits too: guessing is paused");
    const signIn = await status(fetch(`${t.origin}/login`, {
      method: "POST",
      headers: { origin: t.origin, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: API_TOKEN }),
    }));
    assert.equal(signIn.status, 429, "sign-in from the blocked address waits as well");
    assert.equal((await status(fetch(`${t.origin}/healthz`))).status, 200, "no credentials, no block");
    // Behind ngrok the peer is loopback and the client is the hop ngrok appended.
    assert.equal((await leads(API_TOKEN, "203.0.113.7")).status, 200, "another client goes on");

    const failed = t.logs.filter((l) => /Failed bearer token from 127\.0\.0\.1/.test(l.line));
    assert.ok(failed.length >= 1, "failures are logged with the address");
    assert.match(failed[0]!.line, /on GET \/api\/personas \(1 of 10 allowed in 60 s\)/);
    assert.ok(t.logs.length < 3 * MAX_AUTH_FAILURES, "logged rate-limited, not once per guess");
    assert.ok(t.logs.every((l) => !l.line.includes("secret-guess")), "the offered token is never logged");
    await t.waitForLog(/Refused bearer token from 127\.0\.0\.1 for \d+ s: 10 failed attempts in 60 s/);
  });
});

Deno.test("auth throttle: failed sign-ins are logged and block the address", async () => {
  await withParley(async (t) => {
    const signIn = (token: string) =>
      fetch(`${t.origin}/login`, {
        method: "POST",
        headers: { origin: t.origin, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token }),
      });
    for (let i = 0; i < MAX_AUTH_FAILURES; i++) {
      assert.equal((await status(signIn(`wrong-${i}-secret-guess`))).status, 401);
    }
    const blocked = await signIn(API_TOKEN);
    assert.equal(blocked.status, 429);
    assert.ok(Number(blocked.headers.get("retry-after")) >= 1);
    assert.match(
      await blocked.text(),
      /Too many failed sign-ins or tokens from this address: try again in \d+ s/,
    );
    assert.match(await t.waitForLog(/Failed sign-in from 127\.0\.0\.1/), /\(1 of 10 allowed in 60 s\)/);
    assert.ok(t.logs.every((l) => !l.line.includes("secret-guess") && !l.line.includes(API_TOKEN)));
  });
});

Deno.test("FailureLimiter: a window opens at the first failure and ends on time; keys stay bounded", () => {
  let now = 0;
  const limiter = new FailureLimiter({ maxFailures: 2, windowMs: 10_000, maxKeys: 3, now: () => now });
  assert.equal(limiter.retryAfterS("a"), 0);
  limiter.fail("a");
  now = 4_000;
  assert.equal(limiter.fail("a"), 2);
  assert.equal(limiter.retryAfterS("a"), 6);
  now = 10_000;
  assert.equal(limiter.retryAfterS("a"), 0, "the window ended");
  for (const key of ["b", "c", "d", "e"]) limiter.fail(key);
  assert.equal(limiter.size, 3, "the oldest keys are forgotten first");
});
