/**
 * `POST /login` is open to anyone, so it must not read what it does not need: a body over the
 * sign-in limit is refused after at most the limit, and a cross-origin form is refused before any of
 * its body is read. Real sockets; the client's body is a stream that counts what was pulled from it.
 */

import assert from "node:assert/strict";
import { MAX_SIGN_IN_BODY_BYTES } from "../../src/api/sign_in.ts";
import { startTestParley, type TestParley } from "../../testing/parley_harness.ts";

const API_TOKEN = "sign-in-body-token-0123456789abcdef";
const CHUNK = 64 * 1024;
/** What an unbounded reader would take in: far more than any socket buffer holds. */
const HUGE = 256 * 1024 * 1024;

/** A form body of `total` bytes, produced only as the client pulls it. */
function countingForm(total: number): { body: ReadableStream<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  const prefix = new TextEncoder().encode("next=%2Fcalling&token=");
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled >= total) return controller.close();
      const chunk = pulled === 0 ? prefix : new Uint8Array(CHUNK).fill(0x61);
      pulled += chunk.byteLength;
      controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
  return { body, pulled: () => pulled };
}

async function withParley(body: (t: TestParley) => Promise<void>) {
  const t = await startTestParley({ env: { API_TOKEN } });
  try {
    await body(t);
  } finally {
    await t.close();
  }
}

async function postLogin(t: TestParley, origin: string, form: ReadableStream<Uint8Array>) {
  const started = performance.now();
  const response = await fetch(`${t.origin}/login`, {
    method: "POST",
    headers: { origin, "content-type": "application/x-www-form-urlencoded" },
    body: form,
  });
  const text = await response.text();
  return { status: response.status, text, ms: performance.now() - started };
}

Deno.test("POST /login: a huge streamed body gets 413 after the server read only the limit", async () => {
  await withParley(async (t) => {
    const form = countingForm(HUGE);
    const answer = await postLogin(t, t.origin, form.body);
    assert.equal(answer.status, 413);
    assert.match(answer.text, /The sign-in form is larger than 8192 bytes/);
    // What was pulled is the limit plus what the sockets buffer between client and server, never
    // the body: an unbounded reader pulls all 256 MiB before it answers.
    assert.ok(
      form.pulled() < 16 * 1024 * 1024,
      `pulled ${form.pulled()} bytes of ${HUGE} (limit ${MAX_SIGN_IN_BODY_BYTES})`,
    );
    assert.ok(answer.ms < 5_000, `answered in ${answer.ms.toFixed(0)} ms`);
    // The server is still fine: a normal sign-in works at once.
    const ok = await fetch(`${t.origin}/login`, {
      method: "POST",
      redirect: "manual",
      headers: { origin: t.origin, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: API_TOKEN }),
    });
    await ok.body?.cancel();
    assert.equal(ok.status, 303);
  });
});

Deno.test("POST /login: a form from another origin is refused before its body is read", async () => {
  await withParley(async (t) => {
    const form = countingForm(HUGE);
    const answer = await postLogin(t, "https://evil.example", form.body);
    assert.equal(answer.status, 403);
    assert.match(answer.text, /This form was sent from another site/);
    assert.ok(form.pulled() < 16 * 1024 * 1024, `pulled ${form.pulled()} bytes of ${HUGE}`);
  });
});

Deno.test("POST /login: a declared Content-Length over the limit is refused without reading", async () => {
  await withParley(async (t) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(t.origin).port) });
    try {
      const head = `POST /login HTTP/1.1\r\nHost: ${new URL(t.origin).host}\r\nOrigin: ${t.origin}\r\n` +
        `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${HUGE}\r\n\r\ntoken=`;
      await conn.write(new TextEncoder().encode(head));
      const reply = new Uint8Array(4096);
      const n = await conn.read(reply);
      assert.match(new TextDecoder().decode(reply.subarray(0, n ?? 0)), /^HTTP\/1\.1 413 /);
    } finally {
      conn.close();
    }
  });
});

Deno.test("POST /login: a token no HTTP header could carry is a wrong token (401), bytes not UTF-8 a 400, not a 500", async () => {
  await withParley(async (t) => {
    const encoder = new TextEncoder();
    const forms: [string, Uint8Array<ArrayBuffer>][] = [
      ["a euro sign", encoder.encode("next=%2Fcalling&token=%E2%82%AC")],
      ["a line break", encoder.encode(`next=%2Fcalling&token=${API_TOKEN}%0Ax`)],
    ];
    for (const [what, body] of forms) {
      const response = await fetch(`${t.origin}/login`, {
        method: "POST",
        headers: { origin: t.origin, "content-type": "application/x-www-form-urlencoded" },
        body,
      });
      assert.equal(response.status, 401, what);
      assert.match(await response.text(), /That is not the API_TOKEN this server uses/, what);
    }
    // Raw bytes that are not UTF-8 (no browser sends them: it percent-encodes) are a 400 saying so.
    const notUtf8 = await fetch(`${t.origin}/login`, {
      method: "POST",
      headers: { origin: t.origin, "content-type": "application/x-www-form-urlencoded" },
      body: new Uint8Array([...encoder.encode("token="), 0xff, 0xfe]),
    });
    assert.equal(notUtf8.status, 400);
    assert.match(
      await notUtf8.text(),
      /The sign-in form is not valid UTF-8: byte 0xFF at offset 6 \(counting from 0\); send UTF-8 text/,
    );
    assert.ok(!t.logs.some((l) => l.line.includes("Unhandled error")), "nothing reached the 500 handler");

    const right = await fetch(`${t.origin}/login`, {
      method: "POST",
      headers: { origin: t.origin, "content-type": "application/x-www-form-urlencoded" },
      body: `next=%2Fcalling&token=${API_TOKEN}`,
      redirect: "manual",
    });
    await right.body?.cancel();
    assert.equal(right.status, 303, "the right token still signs in");
  });
});
