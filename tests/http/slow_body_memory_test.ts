/**
 * Slow bodies on the unauthenticated routes (a Twilio webhook, the sign-in form), on the real
 * process: a connection that declares a body and sends a few bytes of it holds a read in Parley for
 * as long as it stays. That read must cost little memory, or a few thousand such connections would
 * hold gigabytes (about 200 kB each with `Deno.serve`'s own 64 KiB reads; Parley reads 4 KiB). And a
 * body sent a byte at a time must be kept as bytes, not as a 64 KiB read buffer per byte.
 */

import assert from "node:assert/strict";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import { listeningPort, processEnv, reap, spawnParley } from "../../testing/parley_process.ts";
import { VOICE_WEBHOOK_PATH } from "../../src/paths.ts";

const CONNECTIONS = 400;
/** RSS a slow-body connection may add, kB: about 50 measured with 4 KiB reads, about 200 before. */
const MAX_KB_PER_CONNECTION = 120;

/** Bytes of the form the trickle test sends one at a time. */
const BYTES = 2_000;
/** RSS the trickled form may add, kB: about 10 MB measured now (garbage not yet collected); 100 MB before. */
const MAX_TRICKLE_GROWTH_KB = 32 * 1024;

/** VmRSS of `pid`, kB. */
function rssKb(pid: number): number {
  return Number(Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmRSS:\s+(\d+)/)![1]);
}

/** Open descriptors of `pid`. */
function descriptors(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/**
 * Connections to `port` that `pid` holds open: its descriptors that are established TCP sockets whose
 * local port is `port` (from /proc/net/tcp and tcp6). Unlike a count of all descriptors, no other file
 * the process opens or closes meanwhile moves it.
 */
function heldConnections(pid: number, port: number): number {
  const local = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = Deno.readTextFileSync(table);
    } catch {
      continue; // no IPv6 on this machine
    }
    for (const line of text.split("\n").slice(1)) {
      const [, address, , state, , , , , , inode] = line.trim().split(/\s+/);
      if (address?.endsWith(local) && state === "01") inodes.add(inode!);
    }
  }
  let held = 0;
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
    } catch {
      continue; // closed since the listing
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined && inodes.has(inode)) held++;
  }
  return held;
}

/** Polls `read` every 100 ms until `done` holds of its value or `ms` passes; returns the last value. */
async function pollUntil<T>(read: () => T, done: (value: T) => boolean, ms: number): Promise<T> {
  const deadline = performance.now() + ms;
  let value = read();
  while (!done(value) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = read();
  }
  return value;
}

Deno.test("slow bodies on the Twilio webhook and the sign-in form cost Parley little memory each", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const parley = await spawnParley("start", processEnv({ upstreamUrl: upstream.url, dataDir }));
  const slow: Deno.TcpConn[] = [];
  try {
    const port = await listeningPort(parley);
    const pid = parley.child.pid;
    const host = `127.0.0.1:${port}`;
    // Each declares a body and sends its first bytes only: by Content-Length, or chunked.
    const starts = [
      `POST ${VOICE_WEBHOOK_PATH} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 60000\r\n\r\nCallSid=CA`,
      `POST ${VOICE_WEBHOOK_PATH} HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\na\r\nCallSid=CA\r\n`,
      `POST /login HTTP/1.1\r\nHost: ${host}\r\nOrigin: http://${host}\r\n` +
      `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 8000\r\n\r\ntoken=`,
    ].map((text) => new TextEncoder().encode(text));

    const idleFds = descriptors(pid);
    // A first round warms the routes up (code compiled, buffers allocated), then is closed.
    for (let i = 0; i < 30; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(starts[i % starts.length]!);
      conn.close();
    }
    // Once the warm-up's connections have closed.
    await pollUntil(() => descriptors(pid), (n) => n <= idleFds, 5_000);
    const before = rssKb(pid);

    for (let i = 0; i < CONNECTIONS; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      slow.push(conn);
      await conn.write(starts[i % starts.length]!);
    }
    // A loaded machine can leave connections in the accept queue for a while: give it time.
    const held = await pollUntil(() => heldConnections(pid, port), (n) => n >= CONNECTIONS, 30_000);
    assert.equal(held, CONNECTIONS, `Parley holds every slow connection (${held} of ${CONNECTIONS})`);
    // Each read starts right after its request is routed: wait until RSS stops growing.
    let after = rssKb(pid);
    await pollUntil(
      () => {
        const previous = after;
        after = rssKb(pid);
        return after - previous;
      },
      (growth) => growth < 256,
      5_000,
    );

    const perConnection = (after - before) / CONNECTIONS;
    assert.ok(
      perConnection < MAX_KB_PER_CONNECTION,
      `${perConnection.toFixed(1)} kB of RSS per slow-body connection (${before} → ${after} kB), ` +
        `at most ${MAX_KB_PER_CONNECTION}`,
    );
  } finally {
    for (const conn of slow) conn.close();
    await reap(parley);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a Twilio form sent a byte at a time is kept as bytes, not a read buffer per byte", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const parley = await spawnParley("start", processEnv({ upstreamUrl: upstream.url, dataDir }));
  let conn: Deno.TcpConn | undefined;
  try {
    const port = await listeningPort(parley);
    const pid = parley.child.pid;
    const form = `CallSid=CA${"0".repeat(32)}&From=%2B14155550100&Pad=${"x".repeat(BYTES)}`.slice(0, BYTES);
    const before = rssKb(pid);
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    await conn.write(
      new TextEncoder().encode(
        `POST ${VOICE_WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
          `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${BYTES + 1}\r\n\r\n`,
      ),
    );
    // One byte a write, each its own packet: Parley reads them one by one as they come.
    for (const byte of new TextEncoder().encode(form)) {
      await conn.write(new Uint8Array([byte]));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    // The body is one byte short: Parley still holds all it read.
    const grown = await pollUntil(() => rssKb(pid) - before, (kb) => kb > MAX_TRICKLE_GROWTH_KB, 1_000);
    assert.ok(
      grown <= MAX_TRICKLE_GROWTH_KB,
      `RSS grew ${grown} kB while Parley held a ${BYTES}-byte form read a byte at a time ` +
        `(at most ${MAX_TRICKLE_GROWTH_KB})`,
    );
  } finally {
    conn?.close();
    await reap(parley);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
