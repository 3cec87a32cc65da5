/**
 * Every answer carries the security headers: pages and the sign-in page cannot be framed and run
 * only this origin's scripts, JSON is never sniffed as HTML, and no referrer leaves the origin.
 */

import assert from "node:assert/strict";
import { startTestParley } from "../../testing/parley_harness.ts";

const API_TOKEN = "security-headers-token-0123456789";

Deno.test("security headers: on pages, sign-in, JSON, errors, redirects and static files", async () => {
  const t = await startTestParley({ env: { API_TOKEN } });
  try {
    const requests: [string, RequestInit][] = [
      ["/login", {}],
      ["/calling", { redirect: "manual" }], // 303 to the sign-in page
      ["/api/leads", {}], // 401 JSON
      ["/api/personas", { headers: { authorization: `Bearer ${API_TOKEN}` } }], // 200 JSON
      ["/healthz", {}],
      ["/web/app.css", {}],
      ["/no/such/route", {}], // 404 JSON
      ["/login", { method: "POST", headers: { origin: "https://evil.example" }, body: "token=x" }],
    ];
    for (const [path, init] of requests) {
      const response = await fetch(`${t.origin}${path}`, init);
      await response.body?.cancel();
      const where = `${init.method ?? "GET"} ${path} (${response.status})`;
      const csp = response.headers.get("content-security-policy") ?? "";
      assert.match(csp, /frame-ancestors 'none'/, where);
      assert.match(csp, /default-src 'self'/, where);
      assert.match(csp, /script-src 'self'(;|$)/, where);
      assert.equal(response.headers.get("x-frame-options"), "DENY", where);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff", where);
      assert.equal(response.headers.get("referrer-policy"), "same-origin", where);
    }
  } finally {
    await t.close();
  }
});
