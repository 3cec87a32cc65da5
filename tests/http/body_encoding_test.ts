/**
 * Request bodies must be UTF-8: JSON by RFC 8259, Twilio's forms are ASCII, and a CSV saved as
 * Windows-1252 would otherwise have its names silently turned into U+FFFD. Bytes that are not UTF-8
 * are refused with 400 naming the offset of the first one, through real sockets, on a JSON route,
 * a CSV route and a Twilio form route; a byte-order mark and a real U+FFFD are still text.
 */

import assert from "node:assert/strict";
import { callDatabasePath, openCallStore } from "../../src/store/sqlite/call_store.ts";
import { openLeadStore } from "../../src/store/sqlite/leads.ts";
import { startTestParley, TEST_PUBLIC_BASE_URL, type TestParley } from "../../testing/parley_harness.ts";

const API_TOKEN = "body-encoding-token-0123456789abcdef";

async function withParley(body: (t: TestParley) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "parley_body_encoding_" });
  const store = openCallStore(callDatabasePath(dir));
  const leads = openLeadStore(callDatabasePath(dir));
  const t = await startTestParley({ store, leads, env: { API_TOKEN } });
  try {
    await body(t);
  } finally {
    await t.close();
    store.close();
    leads.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** `text` as bytes, each `\xNN` escape in it (a Latin-1 character) standing for the one raw byte. */
function latin1(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(text, (character) => character.charCodeAt(0));
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.byteLength;
  }
  return bytes;
}

async function post(t: TestParley, path: string, contentType: string, body: Uint8Array<ArrayBuffer>) {
  const response = await fetch(`${t.origin}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": contentType },
    body,
  });
  return { status: response.status, body: await response.json() as { error?: string; id?: string } };
}

Deno.test("POST /api/leads: a JSON body in Latin-1 is a 400 naming the first bad byte and its offset", async () => {
  await withParley(async (t) => {
    // "José" in Latin-1: é is the single byte 0xE9 at offset 12.
    const body = latin1('{"name":"Jos\xe9","phone":"+14155550100"}');
    const refused = await post(t, "/api/leads", "application/json", body);
    assert.equal(refused.status, 400);
    assert.equal(
      refused.body.error,
      "Request body is not valid UTF-8: byte 0xE9 at offset 12 (counting from 0); send UTF-8 text",
    );
    const listed = await (await fetch(`${t.origin}/api/leads`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    })).json() as { leads: unknown[] };
    assert.deepEqual(listed.leads, [], "nothing was stored from the refused body");

    // The same lead in UTF-8, after a byte-order mark, is taken as it is.
    const utf8 = concat(
      Uint8Array.of(0xef, 0xbb, 0xbf),
      new TextEncoder().encode('{"name":"José","phone":"+14155550100"}'),
    );
    const created = await post(t, "/api/leads", "application/json", utf8);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((created.body as { name?: string }).name, "José");
  });
});

Deno.test("POST /api/leads/import: a CSV with a real U+FFFD before a bad byte names the bad byte's offset", async () => {
  await withParley(async (t) => {
    const before = new TextEncoder().encode("name,phone\nAda \uFFFD,+14155550100\nJos"); // U+FFFD is 3 bytes
    const body = concat(before, latin1("\xe9,+14155550101\n"));
    const refused = await post(t, "/api/leads/import", "text/csv", body);
    assert.equal(refused.status, 400);
    assert.match(refused.body.error ?? "", new RegExp(`byte 0xE9 at offset ${before.byteLength} `));
  });
});

Deno.test("Twilio's status callback: a form that is not UTF-8 is a 400; a signed ASCII form still passes", async () => {
  await withParley(async (t) => {
    const path = "/api/twilio/status";
    const callSid = "CA" + "5".repeat(32);
    // Signed over what a lossy decoder would have made of the body, so only the encoding is wrong.
    const params = { CallSid: callSid, CallStatus: "ringing", CallerName: "Jos\uFFFD" };
    const raw = latin1(`CallSid=${callSid}&CallStatus=ringing&CallerName=Jos\xe9`);
    const refused = await fetch(`${t.origin}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        ...t.twilioHeaders(`${TEST_PUBLIC_BASE_URL}${path}`, params),
      },
      body: raw,
    });
    assert.equal(refused.status, 400);
    assert.match(
      (await refused.json() as { error: string }).error,
      new RegExp(`byte 0xE9 at offset ${raw.byteLength - 1} `),
    );
    await t.waitForLog(/Refused \/api\/twilio\/status: Request body is not valid UTF-8/);

    // What Twilio really sends, non-ASCII percent-encoded, is checked against the exact body as before.
    const accepted = await t.postTwilio(path, {
      CallSid: callSid,
      CallStatus: "ringing",
      CallerName: "José",
    });
    await accepted.body?.cancel();
    assert.equal(accepted.status, 204);
  });
});
