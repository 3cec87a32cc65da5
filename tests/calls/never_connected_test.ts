/**
 * Every call record gets an end: a webhook whose stream never connects, an OpenAI refusal before
 * `start`, or a call Twilio reports finished before any stream, ends with `never_connected`, and
 * its live feed ends too.
 */

import assert from "node:assert/strict";
import { type CallEvent } from "../../src/calls/call_events.ts";
import { CallHub } from "../../src/calls/call_hub.ts";
import { watchNeverConnected } from "../../src/calls/never_connected.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";
import { STATUS_CALLBACK_PATH, VOICE_WEBHOOK_PATH } from "../../src/paths.ts";
import { startTestParley, TEST_PUBLIC_BASE_URL, type TestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";

const API_TOKEN = "never-connected-token-0123456789";
const AUTH = { authorization: `Bearer ${API_TOKEN}` };

/** POSTs a signed Twilio form to `path`; resolves with the answer's body. */
async function postSigned(t: TestParley, path: string, form: Record<string, string>): Promise<string> {
  const response = await fetch(`${t.origin}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      ...t.twilioHeaders(`${TEST_PUBLIC_BASE_URL}${path}`, form),
    },
    body: new URLSearchParams(form),
  });
  assert.ok(response.ok, `${path}: ${response.status}`);
  return await response.text();
}

/** A Parley with a call store in a temp folder, closed (and removed) by `await using`. */
async function parleyWithStore(streamConnectTimeoutMs: number, startTimeoutMs?: number) {
  const dataDir = await Deno.makeTempDir();
  const store = openCallStore(`${dataDir}/parley.db`);
  const t = await startTestParley({
    env: { API_TOKEN, INBOUND_PERSONA: "quiet" },
    store,
    streamConnectTimeoutMs,
    ...(startTimeoutMs === undefined ? {} : { startTimeoutMs }),
  });
  return {
    t,
    store,
    async [Symbol.asyncDispose]() {
      await t.close();
      store.close();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/** Opens the call's live feed; `text` resolves with everything it sent once it ends. */
async function liveFeed(t: TestParley, callSid: string): Promise<{ text: Promise<string> }> {
  const feed = await fetch(`${t.origin}/api/calls/${callSid}/events`, { headers: AUTH });
  assert.equal(feed.status, 200);
  const text = (async () => {
    let text = "";
    for await (const chunk of feed.body!.pipeThrough(new TextDecoderStream())) text += chunk;
    return text;
  })();
  return { text };
}

const webhookForm = (callSid: string) => ({
  CallSid: callSid,
  AccountSid: "AC00000000000000000000000000000000",
  From: "+14155550100",
  To: "+14155550199",
  Direction: "inbound",
  CallStatus: "ringing",
});

Deno.test("a webhook whose media stream never connects ends with never_connected, and so does its feed", async () => {
  // 2 s: the feed must open before the watch fires, even while other test files load the machine
  // (at 300 ms the call had sometimes ended first, and its feed then carried only the snapshot).
  await using p = await parleyWithStore(2000);
  const callSid = "CA" + "1".repeat(32);
  await postSigned(p.t, VOICE_WEBHOOK_PATH, webhookForm(callSid));
  const feed = await liveFeed(p.t, callSid);

  const text = await within(feed.text, "the live feed to end");
  assert.match(text, /event: call\.ended\ndata: .*"reason":"never_connected"/);
  const record = await p.store.getCall(callSid);
  assert.equal(record?.endReason, "never_connected");
  assert.match(record?.endDetail ?? "", /no media stream started within 2 s of the voice webhook/);
  assert.equal(record?.persona, "quiet", "the inbound persona");
  const line = p.t.logs.find((l) => l.line.includes(`Call ended: CallSid=${callSid} reason=never_connected`));
  assert.equal(line?.level, "warn", "the end is logged, with its reason, as a warning");
  assert.match(
    line.line,
    /\(no media stream started within 2 s of the voice webhook \(check PUBLIC_BASE_URL/,
  );
});

Deno.test("an OpenAI refusal before `start` still gives the record an end", async () => {
  await using p = await parleyWithStore(300, 500);
  p.t.upstream.refuseWith = 401;
  const callSid = "CA" + "2".repeat(32);
  const twiml = await postSigned(p.t, VOICE_WEBHOOK_PATH, webhookForm(callSid));
  const streamUrl = /<Stream url="([^"]+)"/.exec(twiml)?.[1];
  assert.ok(streamUrl !== undefined, `the webhook answered a stream: ${twiml}`);
  // OpenAI refuses the session pre-warmed on the webhook; the refusal waits for `start` (to end the
  // call under its CallSid), which never comes: the socket is closed when start is overdue.
  const call = await p.t.connectStream(streamUrl, callSid);
  await within(call.closed, "the relay to close the socket");
  // The socket's token names the call: its end line says which, though `start` never came.
  await within(
    p.t.waitForLog(
      new RegExp(`Call ended: connection \\S+ \\(stream of CallSid=${callSid}\\) reason=no_start`),
    ),
    "the overdue start in the log, with the CallSid",
  );

  const ended = await within(p.t.waitForEvent("call.ended", (e) => e.callSid === callSid), "the end");
  assert.equal(ended.reason, "never_connected");
  assert.equal((await p.store.getCall(callSid))?.endReason, "never_connected");
  await within(
    p.t.waitForLog(new RegExp(`Call ended: CallSid=${callSid} reason=never_connected`)),
    "its CallSid",
  );
});

Deno.test("a call still waiting for its stream when the server stops ends server_shutdown, in the log too", async () => {
  const t = await startTestParley({ env: { INBOUND_PERSONA: "quiet" } });
  const callSid = "CA" + "4".repeat(32);
  try {
    await postSigned(t, VOICE_WEBHOOK_PATH, webhookForm(callSid));
  } finally {
    await t.close();
  }
  const ended = t.events.find((e) => e.type === "call.ended" && e.callSid === callSid);
  assert.equal(ended?.type === "call.ended" && ended.reason, "server_shutdown");
  assert.ok(
    t.logs.some((l) =>
      l.line ===
        `[Realtime] Call ended: CallSid=${callSid} reason=server_shutdown (the server stopped before the media stream started)`
    ),
    "the end is logged with its reason",
  );
});

Deno.test("a call Twilio reports finished before any stream ends at once, with Twilio's status", async () => {
  await using p = await parleyWithStore(60_000);
  const callSid = "CA" + "3".repeat(32);
  await postSigned(p.t, VOICE_WEBHOOK_PATH, webhookForm(callSid));
  await postSigned(p.t, STATUS_CALLBACK_PATH, { CallSid: callSid, CallStatus: "completed" });

  const ended = await within(p.t.waitForEvent("call.ended", (e) => e.callSid === callSid), "the end");
  assert.equal(ended.reason, "never_connected");
  assert.equal(ended.detail, "Twilio reports the call completed before any media stream");
  await within(
    p.t.waitForLog(
      new RegExp(
        `Call ended: CallSid=${callSid} reason=never_connected \\(Twilio reports the call completed`,
      ),
    ),
    "the end in the log",
  );
  const types = p.t.events.filter((e) => e.callSid === callSid).map((e) => e.type);
  assert.deepEqual(types, ["call.webhook", "call.status", "call.ended"], "the status is recorded first");
});

Deno.test("a call whose stream starts is ended by its relay, not by the watch", async () => {
  // 2 s: the first call's stream must start inside it even on a loaded machine (at 200 ms, and at
  // 1 s with many test files at once, a slow `start` was itself, rightly, ended as never_connected).
  await using p = await parleyWithStore(2000);
  const call = await p.t.startCall({ persona: "tester" });
  await postSigned(p.t, VOICE_WEBHOOK_PATH, webhookForm(call.callSid));
  await p.t.waitForEvent("call.started");
  await p.t.upstream.session(0);
  // An end that must not come: a second webhook, posted later with the same timeout, whose stream
  // never connects. Once its timer has ended it, the first call's would have fired too.
  const later = "CA" + "4".repeat(32);
  await postSigned(p.t, VOICE_WEBHOOK_PATH, webhookForm(later));
  const laterEnd = await within(p.t.waitForEvent("call.ended", (e) => e.callSid === later), "the later end");
  assert.equal(laterEnd.reason, "never_connected");
  assert.equal(p.t.events.filter((e) => e.type === "call.ended" && e.callSid === call.callSid).length, 0);
  call.stop();
  const ended = await within(p.t.waitForEvent("call.ended", (e) => e.callSid === call.callSid), "the end");
  assert.equal(ended.reason, "caller_hung_up");
});

Deno.test("events for a started call restart no watch: a duplicate webhook does not end a live call", async () => {
  const hub = new CallHub();
  const ends: CallEvent[] = [];
  let controlEnded!: () => void;
  const control = new Promise<void>((resolve) => controlEnded = resolve);
  hub.subscribe((event) => {
    if (event.type !== "call.ended") return;
    ends.push(event);
    if (event.callSid === "CA" + "c".repeat(32)) controlEnded();
  });
  const watch = watchNeverConnected(hub, { timeoutMs: 50 });
  const live = "CA" + "a".repeat(32);
  const webhook = (callSid: string): CallEvent => ({
    type: "call.webhook",
    at: Date.now(),
    callSid,
    persona: "tester",
    direction: "inbound",
    from: "",
    to: "",
    parameters: {},
  });
  hub.emit(webhook(live));
  hub.emit({
    type: "call.started",
    at: Date.now(),
    callSid: live,
    streamSid: "MZ" + "a".repeat(32),
    persona: "tester",
    model: "gpt-realtime",
    parameters: {},
  });
  hub.emit(webhook(live)); // the duplicate
  hub.emit({
    type: "call.placed",
    at: Date.now(),
    callSid: live,
    persona: "tester",
    from: "",
    to: "",
    parameters: {},
  });
  // A call that never connects, watched from after the duplicate: its end comes after the duplicate's would.
  hub.emit(webhook("CA" + "c".repeat(32)));
  await within(control, "the control call's never_connected");
  watch.close();
  assert.deepEqual(ends.map((e) => e.callSid), ["CA" + "c".repeat(32)], "the live call was not ended");
});
