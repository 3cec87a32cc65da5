/**
 * The real process through deploys and crashes: SIGTERM drains (new calls refused, the live call goes
 * on, the process exits after it), `deno task dev` drains and ends on SIGTERM too (and ends the calls on
 * Ctrl-C, inside the half second Deno's watcher allows), and records a SIGKILLed run
 * left open are closed as `server_crashed` on the next start (only its own INSTANCE_ID's).
 */

import assert from "node:assert/strict";
import { FakeRealtimeServer, toneBytes } from "../testing/fake_realtime.ts";
import { within } from "../testing/within.ts";
import {
  listeningPort,
  type ParleyProcess,
  placeTwilioCall,
  postVoiceWebhook,
  PROCESS_API_TOKEN,
  PROCESS_AUTH_TOKEN,
  PROCESS_PUBLIC_BASE_URL,
  processEnv,
  reap,
  spawnParley,
} from "../testing/parley_process.ts";
import { callDatabasePath } from "../src/store/sqlite/call_store.ts";
import { openSqliteStore } from "../src/store/sqlite/store.ts";

const AUTH_TOKEN = PROCESS_AUTH_TOKEN;
const API_TOKEN = PROCESS_API_TOKEN;
const PUBLIC_BASE_URL = PROCESS_PUBLIC_BASE_URL;

function parleyEnv(upstream: FakeRealtimeServer, dataDir: string): Record<string, string> {
  return processEnv({ upstreamUrl: upstream.url, dataDir });
}

Deno.test("SIGTERM drains: new calls get the fallback, the live call goes on, the process exits after it", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const parley = await spawnParley("start", parleyEnv(upstream, dataDir));
  try {
    const port = await listeningPort(parley);
    const target = { port, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC_BASE_URL };
    const call = await placeTwilioCall(target, { persona: "tester" });
    call.start({ persona: "tester" });
    const session = await upstream.session(0);
    await session.waitFor("response.create");

    parley.child.kill("SIGTERM");
    await within(
      parley.stdout.waitFor(/Shutting down \(SIGTERM\): draining 1 call\(s\)/),
      "the drain begins",
    );

    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 503);
    assert.deepEqual(await health.json(), { status: "draining", activeCalls: 1 });
    const refused = await postVoiceWebhook(target, `CA${"1".repeat(32)}`);
    assert.equal(refused.status, 200);
    assert.ok(!refused.twiml.includes("<Stream"), refused.twiml);
    assert.match(refused.twiml, /<Say>.+<\/Say><\/Response>$/);

    // The live call goes on both ways.
    await session.streamResponse({ responseId: "r1", itemId: "i1", audio: toneBytes(200, 7) });
    await call.waitFor("media");
    call.sendMedia(new Uint8Array(160).fill(3));
    await session.waitFor("input_audio_buffer.append");
    assert.equal(upstream.handshakes.length, 1, "the refused call opened no session");

    call.stop();
    const status = await within(parley.child.status, "the process exits after the last call");
    assert.equal(status.code, 0);
    await parley.stdout.done;
    const out = parley.stdout.lines.join("\n");
    assert.match(out, /Drained 1 of 1 call\(s\) in \d+\.\d s/);
    assert.equal(parley.stdout.lines.filter((l) => /Shutting down/.test(l)).length, 1);
    assert.match(out, /reason=caller_hung_up/);
  } finally {
    await reap(parley);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a second signal ends the drain at once, ending live calls with server_shutdown", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const parley = await spawnParley("start", parleyEnv(upstream, dataDir));
  try {
    const port = await listeningPort(parley);
    const call = await placeTwilioCall({ port, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC_BASE_URL }, {
      persona: "tester",
    });
    call.start({ persona: "tester" });
    await (await upstream.session(0)).waitFor("session.update");
    parley.child.kill("SIGTERM");
    await parley.stdout.waitFor(/Shutting down/);
    // Signals within a second count as one (Deno's --watch forwards Ctrl-C three times).
    parley.child.kill("SIGINT");
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the debounce window is the contract
    assert.equal(parley.stdout.lines.filter((l) => /Second signal/.test(l)).length, 0);
    parley.child.kill("SIGINT");
    await call.closed;
    assert.equal((await parley.child.status).code, 0);
    await parley.stdout.done;
    const out = parley.stdout.lines.join("\n");
    assert.match(out, /Second signal: ending 1 call\(s\) with server_shutdown/);
    assert.match(out, /reason=server_shutdown/);
  } finally {
    await reap(parley);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("under deno task dev (Deno's --watch) SIGTERM drains the live call, then ends the process", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const parley = await spawnParley("dev", parleyEnv(upstream, dataDir), {
    keepWatch: true,
    args: ["--watch-personas"],
  });
  try {
    assert.ok(parley.flags.includes("--watch"));
    const port = await listeningPort(parley);
    const call = await placeTwilioCall({ port, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC_BASE_URL }, {
      persona: "tester",
    });
    call.start({ persona: "tester" });
    const session = await upstream.session(0);
    await session.waitFor("response.create");

    parley.child.kill("SIGTERM");
    await within(parley.stdout.waitFor(/Shutting down \(SIGTERM.*draining 1 call\(s\)/), "the drain begins");
    // Past the half second in which Deno's watcher restarts a script after a code change: still draining,
    // the call still goes both ways.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.deepEqual(await health.json(), { status: "draining", activeCalls: 1 });
    await session.streamResponse({ responseId: "r1", itemId: "i1", audio: toneBytes(200, 7) });
    await call.waitFor("media");

    call.stop();
    const status = await within(parley.child.status, "the dev process ends after the last call");
    assert.equal(status.signal, "SIGTERM", "ended by the signal raised again after the drain");
    await parley.stdout.done;
    const out = parley.stdout.lines.join("\n");
    assert.match(out, /Drained 1 of 1 call\(s\)/);
    assert.match(out, /reason=caller_hung_up/);
    assert.doesNotMatch(out, /Parley listening on[^]*Parley listening on/, "no restart");
  } finally {
    await reap(parley);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("under deno task dev, Ctrl-C (SIGINT) ends the live call with server_shutdown within Deno's half second", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const parley = await spawnParley("dev", parleyEnv(upstream, dataDir), {
    keepWatch: true,
    args: ["--watch-personas"],
  });
  try {
    const port = await listeningPort(parley);
    const call = await placeTwilioCall({ port, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC_BASE_URL }, {
      persona: "tester",
    });
    call.start({ persona: "tester" });
    await (await upstream.session(0)).waitFor("response.create");

    parley.child.kill("SIGINT");
    await within(call.closed, "the call ends");
    const status = await within(parley.child.status, "the dev process ends", 3_000);
    assert.equal(status.code, 0);
    await parley.stdout.done;
    const out = parley.stdout.lines.join("\n");
    assert.match(out, /Shutting down \(Ctrl-C under deno task dev\)/);
    assert.match(out, /Call ended: .*reason=server_shutdown/);
    assert.match(out, /Drained 0 of 1 call\(s\) in \d+\.\d s; 1 ended with server_shutdown/);
  } finally {
    await reap(parley);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("after a SIGKILL mid-call, the next start closes the record as server_crashed at its last event", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const first = await spawnParley("start", parleyEnv(upstream, dataDir));
  let second: ParleyProcess | undefined;
  try {
    const port = await listeningPort(first);
    const call = await placeTwilioCall({ port, authToken: AUTH_TOKEN, publicBaseUrl: PUBLIC_BASE_URL }, {
      persona: "tester",
    });
    call.start({ persona: "tester" });
    const session = await upstream.session(0);
    await session.waitFor("response.create");
    session.send({
      type: "conversation.item.input_audio_transcription.completed",
      item_id: "u1",
      transcript: "Still there?",
    });
    await first.stdout.waitFor(/User said: "Still there\?"/);
    // Reading the record writes what is queued: once it shows the line, the line is on disk.
    const live = await fetch(`http://127.0.0.1:${port}/api/calls/${call.callSid}`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    assert.equal((await live.json()).transcript.length, 1);
    first.child.kill("SIGKILL"); // the process dies without a word
    await first.child.status;
    await call.closed;

    second = await spawnParley("start", parleyEnv(upstream, dataDir));
    const port2 = await listeningPort(second);
    const warning = await within(
      second.stderr.waitFor(/previous run left open/),
      "the open record is closed",
    );
    assert.match(warning, new RegExp(`Closed 1 call record\\(s\\) .*reason=server_crashed.*${call.callSid}`));
    const response = await fetch(`http://127.0.0.1:${port2}/api/calls/${call.callSid}`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    const record = await response.json();
    assert.equal(record.endReason, "server_crashed");
    assert.equal(record.endedAt, record.transcript.at(-1).at, "closed at the time of its last event");
    second.child.kill("SIGTERM");
    assert.equal((await second.child.status).code, 0);
  } finally {
    await reap(first);
    if (second !== undefined) await reap(second);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("the startup clean-up closes only the open records of this INSTANCE_ID", async () => {
  const upstream = FakeRealtimeServer.start();
  const dataDir = await Deno.makeTempDir();
  const mine = `CA${"a".repeat(32)}`;
  const peers = `CA${"b".repeat(32)}`;
  for (const [instance, callSid] of [["parley-1", mine], ["parley-2", peers]] as const) {
    const store = openSqliteStore(callDatabasePath(dataDir), { instance });
    await store.calls.record({
      type: "call.started",
      at: 1_000,
      callSid,
      streamSid: "MZ1",
      persona: "tester",
      model: "gpt-realtime-2.1",
      parameters: {},
    });
    store.close();
  }
  const parley = await spawnParley("start", { ...parleyEnv(upstream, dataDir), INSTANCE_ID: "parley-1" });
  try {
    const port = await listeningPort(parley);
    const warning = await within(parley.stderr.waitFor(/previous run left open/), "the clean-up line");
    assert.match(warning, new RegExp(`Closed 1 call record\\(s\\) .*INSTANCE_ID=parley-1\\): ${mine}$`));
    const read = async (callSid: string) =>
      await (await fetch(`http://127.0.0.1:${port}/api/calls/${callSid}`, {
        headers: { authorization: `Bearer ${API_TOKEN}` },
      })).json();
    assert.equal((await read(mine)).endReason, "server_crashed");
    const other = await read(peers);
    assert.equal(other.instance, "parley-2");
    assert.equal(other.endedAt, null, "another instance's live call is left alone");
    parley.child.kill("SIGTERM");
    assert.equal((await parley.child.status).code, 0);
  } finally {
    await reap(parley);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
