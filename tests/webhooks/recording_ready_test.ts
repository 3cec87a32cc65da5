/**
 * `recording.ready` (issue 20 §3): a call of a persona with `record: true` sends a signed
 * `recording.ready` webhook (verified with npm:standardwebhooks) whose link fetches the WAV without the
 * API token, byte ranges included; a link whose path, expiry or signature was changed, or that has
 * expired, is refused with a 403 that says why.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startTestParley, TEST_PUBLIC_BASE_URL } from "../../testing/parley_harness.ts";
import { startWebhookReceiver } from "../../testing/webhook_receiver.ts";
import { within } from "../../testing/within.ts";
import { RecordingsDir } from "../../src/recordings/recordings_dir.ts";
import { createRecordingLinks } from "../../src/recordings/recording_link.ts";
import { callDatabasePath } from "../../src/store/sqlite/call_store.ts";
import { openSqliteWebhookOutbox } from "../../src/store/sqlite/webhook_outbox.ts";
import { recordedCall } from "../recordings/_recording_call.ts";
import { API_TOKEN, SECRET } from "./_call.ts";

const PERSONAS_DIR = new URL("../testdata/recording_personas", import.meta.url).pathname;

/** GET `url` with `headers`; the status and the body's `error` (or bytes). */
async function get(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  const type = response.headers.get("content-type") ?? "";
  const body = type.startsWith("application/json")
    ? (await response.json()).error as string
    : new Uint8Array(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body };
}

Deno.test("a recorded call sends recording.ready with a signed link that fetches the WAV without a token; changed or expired links are refused", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_recording_ready_" });
  const recordings = new RecordingsDir(join(dataDir, "recordings"));
  const receiver = await startWebhookReceiver(SECRET);
  const outbox = openSqliteWebhookOutbox(callDatabasePath(dataDir));
  const t = await startTestParley({
    personasDir: PERSONAS_DIR,
    env: { DEFAULT_PERSONA: "recorder", API_TOKEN, WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET },
    outbox,
    webhookTiming: { pollMs: 25 },
    recordings,
  });
  try {
    const startedAt = Date.now();
    const callSid = await recordedCall(t);
    await within(
      receiver.waitFor((r) => r.some((w) => w.body.type === "recording.ready")),
      "recording.ready at the receiver",
      15_000,
    );
    assert.deepEqual(receiver.rejected, [], "every signature verified with npm:standardwebhooks");
    const ready = receiver.received.find((w) => w.body.type === "recording.ready")!;
    assert.equal(ready.id, `msg_recording_ready_${callSid}`);
    const data = ready.body.data as Record<string, string | number>;
    assert.equal(data.callSid, callSid);
    assert.equal(data.state, "complete");
    assert.equal(data.durationMs, (await recordings.info(callSid))?.durationMs);
    const url = new URL(String(data.url));
    assert.equal(`${url.origin}${url.pathname}`, `${TEST_PUBLIC_BASE_URL}/api/calls/${callSid}/recording`);
    const expiresAt = Date.parse(String(data.expiresAt));
    assert.equal(expiresAt, Number(url.searchParams.get("expires")) * 1000);
    const week = 7 * 86_400_000;
    assert.ok(expiresAt >= startedAt + week && expiresAt <= Date.now() + week + 1000, String(data.expiresAt));

    // The link, on this server: the WAV with no token, whole and by byte ranges.
    const link = `${t.origin}${url.pathname}${url.search}`;
    const wav = await Deno.readFile(recordings.wavPath(callSid));
    const whole = await get(link);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get("content-type"), "audio/wav");
    assert.deepEqual(whole.body, wav);
    const part = await get(link, { Range: "bytes=100-199" });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get("content-range"), `bytes 100-199/${wav.length}`);
    assert.deepEqual(part.body, wav.subarray(100, 200));

    // Changed in any part, it is worthless.
    const signature = url.searchParams.get("signature")!;
    const expires = url.searchParams.get("expires")!;
    const flipped = signature.slice(0, -1) + (signature.endsWith("A") ? "B" : "A");
    const forged = [
      `${t.origin}${url.pathname}?expires=${expires}&signature=${flipped}`,
      `${t.origin}${url.pathname}?expires=${Number(expires) + 86_400}&signature=${signature}`,
      `${t.origin}/api/calls/CAsomeoneelse/recording${url.search}`,
    ];
    for (const attempt of forged) {
      const refused = await get(attempt);
      assert.equal(refused.status, 403, attempt);
      assert.match(String(refused.body), /^Signed recording link refused: its signature does not match/);
    }
    const half = await get(`${t.origin}${url.pathname}?expires=${expires}`);
    assert.equal(half.status, 403);
    assert.match(String(half.body), /lacks its signature parameter/);

    // A genuine link past its time (signed with the same secret, eight days ago).
    const old = createRecordingLinks(SECRET, () => Date.now() - 8 * 86_400_000).sign(callSid);
    const expired = await get(`${t.origin}${old.path}`);
    assert.equal(expired.status, 403);
    assert.match(String(expired.body), /^Signed recording link refused: it expired at \d{4}-/);

    // No link and no token: still the API's 401; the token still works.
    assert.equal((await get(`${t.origin}${url.pathname}`)).status, 401);
    const withToken = await get(`${t.origin}${url.pathname}`, { Authorization: `Bearer ${API_TOKEN}` });
    assert.equal(withToken.status, 200);
    assert.deepEqual(withToken.body, wav);
  } finally {
    await t.close();
    outbox.close();
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("without WEBHOOK_SECRET no link is honoured: a signed request is refused and says why", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_recording_link_off_" });
  const recordings = new RecordingsDir(dataDir);
  const t = await startTestParley({ personasDir: PERSONAS_DIR, env: { API_TOKEN }, recordings });
  try {
    const { path } = createRecordingLinks(SECRET).sign("CA0123");
    const refused = await get(`${t.origin}${path}`);
    assert.equal(refused.status, 403);
    assert.match(
      String(refused.body),
      /signed recording links are off on this server \(WEBHOOK_SECRET is not set\)/,
    );
  } finally {
    await t.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
