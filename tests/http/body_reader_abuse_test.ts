/**
 * Bodies built to make the body reader work or hold far more than they cost to send, through real
 * sockets: a body of real U+FFFDs (EF BF BD) before one bad byte must not cost time quadratic in its
 * length to find that byte (the event loop carries every call's audio); a body trickled a byte per
 * chunk must hold about the bytes that came, not an object per chunk; and an unsigned Twilio POST is
 * refused before its body is read at all.
 */

import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { callDatabasePath } from "../../src/store/sqlite/call_store.ts";
import { openLeadStore } from "../../src/store/sqlite/leads.ts";
import { watchLoopLag } from "../../testing/loop_lag.ts";
import { startTestParley, type TestParley } from "../../testing/parley_harness.ts";

const API_TOKEN = "body-reader-abuse-token-0123456789abcdef";
const STATUS_PATH = "/api/twilio/status";
/**
 * The longest the event loop may stall while one such body is answered, ms (about 900 ms before for the
 * 64 KiB form): the least of {@linkcode TRIES} tries, since a stall the loaded machine causes does not
 * repeat as the reader's own work would.
 */
const MAX_STALL_MS = 250;
/** How many times each body is posted; the least stall counts. */
const TRIES = 3;

async function withParley(body: (t: TestParley) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "parley_body_reader_abuse_" });
  const leads = openLeadStore(callDatabasePath(dir));
  const t = await startTestParley({ leads, env: { API_TOKEN } });
  try {
    await body(t);
  } finally {
    await t.close();
    leads.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** `count` real U+FFFDs written out as UTF-8 (EF BF BD each), then the byte 0xFF, which no UTF-8 has. */
function replacementsThenBadByte(count: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(count * 3 + 1);
  for (let i = 0; i < count; i++) bytes.set([0xef, 0xbf, 0xbd], i * 3);
  bytes[count * 3] = 0xff;
  return bytes;
}

/**
 * Posts `body` {@linkcode TRIES} times and reads each whole answer: the first answer, with the event
 * loop's largest stall during the try that stalled it least.
 */
async function postWatched(
  t: TestParley,
  path: string,
  headers: Record<string, string>,
  body: Uint8Array<ArrayBuffer>,
): Promise<{ status: number; text: string; stallMs: number }> {
  let first: { status: number; text: string } | undefined;
  let stallMs = Infinity;
  for (let i = 0; i < TRIES; i++) {
    const lag = watchLoopLag();
    try {
      const response = await fetch(`${t.origin}${path}`, { method: "POST", headers, body });
      const text = await response.text();
      first ??= { status: response.status, text };
      stallMs = Math.min(stallMs, lag.take());
    } finally {
      lag.stop();
    }
  }
  return { ...first!, stallMs };
}

function badByteError(offset: number): string {
  return `Request body is not valid UTF-8: byte 0xFF at offset ${offset} (counting from 0); send UTF-8 text`;
}

Deno.test("a body of real U+FFFDs before one bad byte is answered at once: the Twilio callback, sign-in, a lead import", async () => {
  await withParley(async (t) => {
    const form = { "content-type": "application/x-www-form-urlencoded" };
    // 64 KiB, the Twilio routes' limit: 21,845 U+FFFDs and the bad byte at offset 65,535.
    const twilioBody = replacementsThenBadByte(21_845);
    assert.equal(twilioBody.byteLength, 64 * 1024);

    // With some X-Twilio-Signature (a forged one: the form is read before the signature is checked
    // over it) the body is read and decoded: 400 naming the bad byte.
    const forged = await postWatched(t, STATUS_PATH, { ...form, "x-twilio-signature": "forged" }, twilioBody);
    assert.ok(forged.stallMs < MAX_STALL_MS, `the event loop stalled ${forged.stallMs.toFixed(0)} ms`);
    assert.equal(forged.status, 400);
    assert.equal(JSON.parse(forged.text).error, badByteError(65_535));

    // Without one it is refused as unsigned (403), its body unread.
    const unsigned = await postWatched(t, STATUS_PATH, form, twilioBody);
    assert.ok(unsigned.stallMs < MAX_STALL_MS, `the event loop stalled ${unsigned.stallMs.toFixed(0)} ms`);
    assert.equal(unsigned.status, 403);
    assert.deepEqual(JSON.parse(unsigned.text), { error: "Twilio signature check failed" });

    // The sign-in form (limit 8 KiB), from this server's own origin.
    const signIn = await postWatched(
      t,
      "/login",
      { ...form, origin: t.origin },
      replacementsThenBadByte(2_730),
    );
    assert.ok(signIn.stallMs < MAX_STALL_MS, `the event loop stalled ${signIn.stallMs.toFixed(0)} ms`);
    assert.equal(signIn.status, 400);
    assert.match(signIn.text, /The sign-in form is not valid UTF-8: byte 0xFF at offset 8190 \(counting/);

    // A signed-in lead import (limit 1 MiB): about 200 s of the event loop before (quadratic: 0.9 s for
    // 64 KiB, 3.2 s for 128 KiB).
    const csv = replacementsThenBadByte((1024 * 1024 - 1) / 3);
    const imported = await postWatched(
      t,
      "/api/leads/import",
      { authorization: `Bearer ${API_TOKEN}`, "content-type": "text/csv" },
      csv,
    );
    assert.ok(imported.stallMs < MAX_STALL_MS, `the event loop stalled ${imported.stallMs.toFixed(0)} ms`);
    assert.equal(imported.status, 400);
    assert.equal(JSON.parse(imported.text).error, badByteError(1024 * 1024 - 1));
  });
});

/** V8's full collection, exposed for this test (as `--expose-gc` would). */
function collector(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

/** The heap and ArrayBuffer memory this process holds after a full collection, bytes. */
async function retainedBytes(gc: () => void): Promise<number> {
  // Twice, a tick apart: what a finished read left to promises and timers is garbage by then.
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  gc();
  const { heapUsed, external } = Deno.memoryUsage();
  return heapUsed + external;
}

/** Bytes trickled to each connection, one per chunk, the body never finished. */
const TRICKLED = 20_000;
const TRICKLE_CONNECTIONS = 8;
/**
 * Memory a trickling connection may hold, bytes, in all (what any request waiting for its body holds,
 * about 80 kB in this process, and the bytes that came): about 4 MB before, an object per chunk.
 */
const MAX_BYTES_PER_TRICKLE = 200 * 1024;
/**
 * Of that, what the trickled bytes may add to a request waiting for its body: the buffer, at most twice
 * the bytes, and the heap's noise in a worker other test files share (one run read 60 kB against an
 * expected 34): 100 kB, against about 4 MB before.
 */
const MAX_TRICKLE_EXTRA_BYTES = 5 * TRICKLED;

Deno.test("a body trickled a byte per chunk holds about the bytes that came, not an object per chunk", async () => {
  await withParley(async (t) => {
    const gc = collector();
    const port = Number(new URL(t.origin).port);
    const encoder = new TextEncoder();
    // Signed as far as the body reader can tell (a forged signature is only found once the form is
    // read), chunked, and never finished: `1\r\nx\r\n` a chunk, each its own read in Parley.
    const head = encoder.encode(
      `POST ${STATUS_PATH} HTTP/1.1\r\nHost: ${new URL(t.origin).host}\r\nX-Twilio-Signature: forged\r\n` +
        "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    const chunk = encoder.encode("1\r\nx\r\n");
    const trickle = async (bytes: number) => {
      const chunks = new Uint8Array(chunk.byteLength * bytes);
      for (let i = 0; i < bytes; i++) chunks.set(chunk, i * chunk.byteLength);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      for (const data of [head, chunks]) {
        for (let sent = 0; sent < data.byteLength;) sent += await conn.write(data.subarray(sent));
      }
      return conn;
    };
    /** Measures until what Parley holds stops growing (it has read all that was sent). */
    const settled = async () => {
      let last = await retainedBytes(gc);
      for (let i = 0; i < 50; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const now = await retainedBytes(gc);
        if (Math.abs(now - last) < 16 * 1024) return now;
        last = now;
      }
      return last;
    };

    // A first round, closed, compiles the path and sizes what is reused.
    for (const bytes of [1, TRICKLED]) (await trickle(bytes)).close();
    const conns: Deno.TcpConn[] = [];
    try {
      const idle = await settled();
      // As many requests waiting for their bodies after one byte each: what any such request holds.
      for (let i = 0; i < TRICKLE_CONNECTIONS; i++) conns.push(await trickle(1));
      const waiting = await settled();
      for (let i = 0; i < TRICKLE_CONNECTIONS; i++) conns.push(await trickle(TRICKLED));
      const trickled = await settled();
      const perConnection = (trickled - waiting) / TRICKLE_CONNECTIONS;
      const extra = perConnection - (waiting - idle) / TRICKLE_CONNECTIONS;
      const figures = `${idle} → ${waiting} (${TRICKLE_CONNECTIONS} waiting) → ${trickled} bytes ` +
        `(${TRICKLE_CONNECTIONS} trickled ${TRICKLED} bytes a byte a chunk)`;
      assert.ok(
        perConnection < MAX_BYTES_PER_TRICKLE,
        `${(perConnection / 1024).toFixed(0)} kB held per trickling connection, at most ` +
          `${MAX_BYTES_PER_TRICKLE / 1024} kB: ${figures}`,
      );
      assert.ok(
        extra < MAX_TRICKLE_EXTRA_BYTES,
        `${(extra / 1024).toFixed(0)} kB more per trickling connection than per waiting one, at most ` +
          `${MAX_TRICKLE_EXTRA_BYTES / 1024} kB: ${figures}`,
      );
    } finally {
      for (const conn of conns) conn.close();
    }
  });
});

/** The status line of what `conn` answers within `ms`, or undefined when nothing comes. */
async function statusLineWithin(conn: Deno.TcpConn, ms: number): Promise<string | undefined> {
  const reply = new Uint8Array(4096);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), ms));
  try {
    const read = await Promise.race([conn.read(reply), timeout]);
    if (read === undefined || read === null) return undefined;
    return new TextDecoder().decode(reply.subarray(0, read)).split("\r\n")[0];
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("an unsigned Twilio POST is refused (403) before its body is read: its answer comes before its body", async () => {
  await withParley(async (t) => {
    const port = Number(new URL(t.origin).port);
    const host = new URL(t.origin).host;
    // Each declares a body within the 64 KiB limit and sends only its start: the answer cannot wait for it.
    const starts = {
      "Content-Length": `Content-Length: 60000\r\n\r\nCallSid=CA`,
      "chunked": `Transfer-Encoding: chunked\r\n\r\na\r\nCallSid=CA\r\n`,
    };
    for (const [framing, start] of Object.entries(starts)) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await conn.write(
          new TextEncoder().encode(
            `POST ${STATUS_PATH} HTTP/1.1\r\nHost: ${host}\r\n` +
              `Content-Type: application/x-www-form-urlencoded\r\n${start}`,
          ),
        );
        const status = await statusLineWithin(conn, 5_000);
        assert.equal(status, "HTTP/1.1 403 Forbidden", `${framing}: the answer, before the body ends`);
      } finally {
        conn.close();
      }
    }
    await t.waitForLog(/Refused \/api\/twilio\/status: missing signature \(no X-Twilio-Signature header\)/);
    assert.ok(!t.logs.some((l) => l.line.includes("Unhandled error")), "nothing reached the 500 handler");
  });
});
