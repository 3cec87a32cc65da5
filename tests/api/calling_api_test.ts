/**
 * The calling page's HTTP surface through real sockets: sign-in and the session cookie, Origin
 * checks, the leads, personas and voices APIs, per-call voice validation, hang-up by ending the
 * stream, and the softphone socket's checks.
 */

import assert from "node:assert/strict";
import { callDatabasePath, type CallStore, openCallStore } from "../../src/store/sqlite/call_store.ts";
import { openLeadStore } from "../../src/store/sqlite/leads.ts";
import { CLOSE_ON_FRAME_CHARS } from "../../src/twilio/media_stream.ts";
import { startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";
import {
  startTestParley,
  TEST_AUTH_TOKEN,
  TEST_PUBLIC_BASE_URL,
  type TestParley,
} from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";

const API_TOKEN = "calling-api-token-0123456789abcdef";

async function withParley(
  body: (t: TestParley, store: CallStore) => Promise<void>,
  env: Record<string, string> = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "parley_calling_api_" });
  const store = openCallStore(callDatabasePath(dir));
  const leads = openLeadStore(callDatabasePath(dir));
  const t = await startTestParley({ store, leads, env: { API_TOKEN, ...env } });
  try {
    await body(t, store);
  } finally {
    await t.close();
    store.close();
    leads.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Posts the signed voice webhook with `query`, as Twilio does when a placed call connects. */
async function postWebhook(t: TestParley, query: string): Promise<Response> {
  const form = { CallSid: "CA" + "7".repeat(32) };
  const path = `/api/twilio/voice-realtime?${query}`;
  return await fetch(`${t.origin}${path}`, {
    method: "POST",
    headers: {
      ...t.twilioHeaders(`${TEST_PUBLIC_BASE_URL}${path}`, form),
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams(form),
  });
}

async function signIn(t: TestParley): Promise<string> {
  const response = await fetch(`${t.origin}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { origin: t.origin, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: API_TOKEN, next: "/leads" }),
  });
  await response.body?.cancel();
  assert.equal(response.status, 303);
  assert.equal(response.headers.get("location"), "/leads");
  const cookie = response.headers.get("set-cookie")!;
  assert.match(cookie, /^parley_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
  return cookie.split(";")[0]!;
}

async function json(response: Response): Promise<{ status: number; body: Record<string, unknown> }> {
  return { status: response.status, body: await response.json() };
}

Deno.test("pages: each is one whole document with the shared head, skip link and nav around its own main", async () => {
  await withParley(async (t) => {
    const cookie = await signIn(t);
    const pages: [path: string, title: string, script: string][] = [
      ["/calling", "Calling", "calling"],
      ["/calls", "Calls", "calls"],
      ["/calls/CA0123", "Call", "call"],
      ["/leads", "Leads", "leads"],
      ["/personas", "Personas", "personas"],
      ["/personas/alex", "Persona", "persona"],
    ];
    for (const [path, title, script] of pages) {
      const response = await fetch(`${t.origin}${path}`, { headers: { cookie } });
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
      const html = await response.text();
      const [head = "", body = ""] = html.split("</head>");
      assert.match(head, /^<!doctype html>\n<html lang="en">/);
      assert.match(head, /<meta charset="utf-8">/);
      assert.match(head, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
      assert.equal(head.match(/<title>/g)?.length, 1, `${path}: one title`);
      assert.match(head, new RegExp(`<title>${title} · Parley</title>`));
      assert.match(head, /<link rel="stylesheet" href="\/web\/app\.css">/);
      assert.match(head, new RegExp(`<script type="module" src="/web/${script}\\.js"></script>`));
      assert.match(
        body,
        /^\s*<body>\s*<a class="skip sr-only" href="#main">Skip to content<\/a>\s*<header class="top">/,
      );
      for (const href of ["/calling", "/calls", "/leads", "/personas"]) {
        assert.match(body, new RegExp(`<a href="${href}">`));
      }
      assert.match(
        body,
        /<form method="post" action="\/logout"><button type="submit">Sign out<\/button><\/form>\s*<\/header>\s*<main id="main">/,
      );
      assert.equal(body.match(/<main/g)?.length, 1, `${path}: one main`);
      assert.match(body, /<\/main>\s*<\/body>\s*<\/html>\s*$/);
      assert.doesNotMatch(html, /<!-- page (head|main) -->/);
    }
  });
});

Deno.test("sign-in: the cookie opens pages and APIs; state changes need this origin; logout ends it", async () => {
  await withParley(async (t) => {
    const wrong = await fetch(`${t.origin}/login`, {
      method: "POST",
      headers: { origin: t.origin, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: "nope" }),
    });
    assert.equal(wrong.status, 401);
    assert.match(await wrong.text(), /id="token-error" role="alert">⚠ That is not the API_TOKEN/);
    const forged = await fetch(`${t.origin}/login`, {
      method: "POST",
      headers: { origin: "https://evil.example", "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: API_TOKEN }),
    });
    assert.equal(forged.status, 403);
    await forged.body?.cancel();

    const page = await fetch(`${t.origin}/calling`, { redirect: "manual" });
    assert.equal(page.status, 303);
    assert.equal(page.headers.get("location"), "/login?next=%2Fcalling");
    await page.body?.cancel();

    const cookie = await signIn(t);
    const calling = await fetch(`${t.origin}/calling`, { headers: { cookie } });
    assert.equal(calling.status, 200);
    assert.match(await calling.text(), /<h1>Start a call<\/h1>/);
    assert.equal((await fetch(`${t.origin}/api/leads`, { headers: { cookie } }).then(json)).status, 200);

    const lead = { name: "Ada", phone: "+14155550100" };
    const post = (headers: Record<string, string>) =>
      fetch(`${t.origin}/api/leads`, { method: "POST", headers, body: JSON.stringify(lead) }).then(json);
    assert.deepEqual(await post({ cookie, origin: "https://evil.example" }), {
      status: 403,
      body: { error: "Cross-origin request refused: the Origin header is not this server's" },
    });
    assert.equal((await post({ cookie })).status, 403, "a cookie without Origin is refused too");
    assert.equal((await post({ cookie, origin: t.origin })).status, 201);
    assert.equal((await post({ cookie, origin: TEST_PUBLIC_BASE_URL })).status, 201, "the ngrok origin");
    assert.equal((await post({ authorization: `Bearer ${API_TOKEN}` })).status, 201, "scripts use the token");

    const out = await fetch(`${t.origin}/logout`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie, origin: t.origin },
    });
    assert.match(out.headers.get("set-cookie")!, /^parley_session=; .*Max-Age=0/);
    await out.body?.cancel();
    assert.equal((await fetch(`${t.origin}/api/leads`, { headers: { cookie } }).then(json)).status, 401);
  });
});

Deno.test("sign-in: without API_TOKEN the page says what to set instead of showing a form", async () => {
  const t = await startTestParley({ env: { API_TOKEN: "" } });
  try {
    const response = await fetch(`${t.origin}/login`);
    const html = await response.text();
    assert.match(html, /Sign-in is not set up/);
    assert.match(html, /Set <code>API_TOKEN<\/code> in <code>\.env<\/code>/);
    assert.doesNotMatch(html, /<form/);
  } finally {
    await t.close();
  }
});

Deno.test("leads API: add, edit, delete, import with line-numbered errors", async () => {
  await withParley(async (t) => {
    const api = (path: string, method = "GET", body?: string, type = "application/json") =>
      fetch(`${t.origin}${path}`, {
        method,
        headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": type },
        ...(body === undefined ? {} : { body }),
      }).then(json);
    assert.deepEqual(await api("/api/leads", "POST", JSON.stringify({ name: "Ada", phone: "555" })), {
      status: 400,
      body: { error: 'Field "phone": "555" is not an E.164 number like +14155550100', field: "phone" },
    });
    assert.equal(
      (await api("/api/leads", "POST", JSON.stringify({ phone: "+14155550100" }))).body.field,
      "name",
    );
    assert.match(
      String(
        (await api(
          "/api/leads",
          "POST",
          JSON.stringify({ name: "A", phone: "+14155550100", fields: { voice: "x" } }),
        )).body.error,
      ),
      /Field "fields\.voice": is reserved/,
    );
    const created = await api(
      "/api/leads",
      "POST",
      JSON.stringify({ name: "Ada", phone: "+14155550100", fields: { plan: "pro" } }),
    );
    assert.equal(created.status, 201);
    const id = created.body.id;
    const patched = await api(`/api/leads/${id}`, "PATCH", JSON.stringify({ notes: "Call after 3pm" }));
    assert.deepEqual([patched.body.name, patched.body.notes, patched.body.fields], ["Ada", "Call after 3pm", {
      plan: "pro",
    }]);
    assert.deepEqual((await api(`/api/leads/${id}`)).body.calls, []);
    assert.equal(
      (await fetch(`${t.origin}/api/leads/${id}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${API_TOKEN}` },
      })).status,
      204,
    );
    assert.equal((await api(`/api/leads/${id}`)).status, 404);

    const csv =
      "Name,Phone,Company,notes,plan\r\nBo,+14155550101,Acme,,basic\r\n,+14155550102,,,\r\nCy,+1415,,,\r\n";
    const imported = await api("/api/leads/import", "POST", csv, "text/csv");
    assert.equal(imported.status, 207);
    assert.deepEqual(
      (imported.body.imported as { name: string; fields: unknown }[]).map((l) => [l.name, l.fields]),
      [["Bo", { plan: "basic" }]],
    );
    assert.deepEqual(imported.body.errors, [
      { line: 3, field: "name", message: "is empty" },
      { line: 4, field: "phone", message: '"+1415" is not an E.164 number like +14155550100' },
    ]);
    assert.match(
      String((await api("/api/leads/import", "POST", "name,company\nBo,Acme", "text/csv")).body.error),
      /no "phone" column/,
    );
    assert.equal((await fetch(`${t.origin}/api/leads`).then(json)).status, 401);
  });
});

Deno.test("personas and voices APIs describe each persona, its engine and the voices it may use", async () => {
  await withParley(async (t) => {
    const get = (path: string) =>
      fetch(`${t.origin}${path}`, { headers: { authorization: `Bearer ${API_TOKEN}` } }).then(json);
    const { personas } = (await get("/api/personas")).body as { personas: Record<string, unknown>[] };
    const alex = personas.find((p) => p.id === "alex")!;
    assert.deepEqual(
      [alex.engine, alex.voice, alex.valid, alex.problems, typeof alex.description, typeof alex.greeting],
      ["realtime", "shimmer", true, [], "string", "string"],
    );
    const preview = (await get("/api/personas/alex/preview?lead=Dana&company=Acme&voice=coral")).body;
    assert.match(String(preview.instructions), /to Dana at Acme/);
    const [update, greeting] = preview.openingMessages as {
      type: string;
      session?: { audio: { output: { voice: string } } };
    }[];
    assert.equal(update!.type, "session.update");
    assert.equal(update!.session!.audio.output.voice, "coral");
    assert.equal(greeting!.type, "response.create");
    assert.deepEqual(preview.tools, []);
    assert.equal((await get("/api/personas/nobody")).status, 404);

    const realtime = (await get("/api/voices?engine=realtime")).body.voices as {
      id: string;
      label: string | null;
    }[];
    assert.ok(realtime.some((v) => v.id === "shimmer" && v.label === "warm, female"));
    assert.ok(!realtime.some((v) => v.id === "nova"));
    const live = (await get("/api/voices?engine=live")).body.voices as { id: string }[];
    assert.ok(live.some((v) => v.id === "beacon"));
    assert.match(
      String((await get("/api/voices?engine=tts")).body.error),
      /Query "engine": "tts" is not an engine: use one of realtime, live/,
    );
  });
});

Deno.test("per-call voice: POST /api/calls and the webhook refuse a voice the engine lacks, naming the field", async () => {
  await withParley(async (t) => {
    const placed = await fetch(`${t.origin}/api/calls`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ to: "+14155550100", persona: "alex", voice: "nova" }),
    }).then(json);
    assert.equal(placed.status, 400);
    assert.match(
      String(placed.body.error),
      /^Field "voice": "nova" is a text-to-speech voice the realtime engine does not have; use one of alloy, ash,/,
    );

    const webhook = (query: string) => postWebhook(t, query);
    const refused = await webhook("persona=alex&voice=robot");
    assert.equal(refused.status, 400);
    assert.match(
      (await refused.json()).error,
      /^Parameter "voice": "robot" is not a voice of the realtime engine; use one of/,
    );
    const kept = await webhook("persona=alex&voice=cedar");
    assert.match(await kept.text(), /<Parameter name="voice" value="cedar"\/>/);
  }, { TWILIO_ACCOUNT_SID: "AC" + "0123456789abcdef".repeat(2), TWILIO_PHONE_NUMBER: "+14155550199" });
});

Deno.test("per-call voice reaches the session configuration on both engines", async () => {
  const personas = {
    "rt.ts": personaSource({ voice: "marin", instructions: "You are Rita." }),
    "sam.ts": personaSource({ model: "gpt-live-1.1", voice: "marin", instructions: "You are Sam." }),
  };
  await withPersonaDir(personas, async (personasDir) => {
    const t = await startTestParley({ personasDir, env: { DEFAULT_PERSONA: "rt", INBOUND_PERSONA: "rt" } });
    try {
      // The webhook checks the voice against the persona's engine: beacon is GPT-Live's only.
      const webhook = (query: string) => postWebhook(t, query);
      const refused = await webhook("persona=rt&voice=beacon");
      assert.equal(refused.status, 400);
      assert.match(
        (await refused.json()).error,
        /^Parameter "voice": "beacon" is not a voice of the realtime engine/,
      );
      assert.match(
        await (await webhook("persona=sam&voice=beacon")).text(),
        /<Parameter name="voice" value="beacon"\/>/,
      );

      const realtimeCall = await t.startCall({ persona: "rt", voice: "cedar" });
      const realtime = await within(t.upstream.session(0), "the Realtime session");
      const update = await within(realtime.waitFor("session.update"), "session.update");
      assert.equal(update.session.audio.output.voice, "cedar");

      const liveCall = await t.startCall({ persona: "sam", voice: "beacon" });
      const live = await within(t.live.session(0), "the GPT-Live session");
      const start = await within(live.waitFor("session.start"), "session.start");
      assert.equal(start.session.audio.output.voice, "beacon");
      realtimeCall.close();
      liveCall.close();
    } finally {
      await t.close();
    }
  });
});

Deno.test("hang-up without Twilio credentials ends the call's stream", async () => {
  await withParley(async (t) => {
    const call = await t.startCall({ persona: "alex" });
    await t.waitForEvent("call.started");
    const response = await fetch(`${t.origin}/api/calls/${call.callSid}/hangup`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_TOKEN}` },
    }).then(json);
    assert.deepEqual(response, { status: 200, body: { callSid: call.callSid, via: "stream" } });
    const ended = await within(t.waitForEvent("call.ended"), "the end of the call");
    assert.equal(ended.reason, "hung_up_by_user");
    await within(call.closed, "the media socket to close");
    const again = await fetch(`${t.origin}/api/calls/${call.callSid}/hangup`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_TOKEN}` },
    }).then(json);
    assert.equal(again.status, 404);
  });
});

const ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);

/** Runs `body` with Twilio credentials set and Twilio's REST API faked. */
async function withTwilioParley(
  body: (t: TestParley, rest: ReturnType<typeof startFakeTwilioRest>, store: CallStore) => Promise<void>,
) {
  const rest = startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  try {
    await withParley((t, store) => body(t, rest, store), {
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_PHONE_NUMBER: "+14155550199",
      TWILIO_API_BASE_URL: rest.baseUrl,
    });
  } finally {
    await rest.shutdown();
  }
}

function postHangUp(
  t: TestParley,
  callSid: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return fetch(`${t.origin}/api/calls/${callSid}/hangup`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_TOKEN}` },
  }).then(json);
}

Deno.test("hang-up through Twilio: Twilio's stop that follows is recorded hung_up_by_user", async () => {
  await withTwilioParley(async (t, rest, store) => {
    const call = await t.startCall({ persona: "alex" });
    await within(t.waitForEvent("call.started"), "the stream started");
    const response = await postHangUp(t, call.callSid);
    assert.deepEqual(response, { status: 200, body: { callSid: call.callSid, via: "twilio" } });
    const asked = rest.requests.filter((r) =>
      r.method === "POST" && r.path.endsWith(`/Calls/${call.callSid}.json`)
    );
    assert.equal(asked.length, 1);
    assert.equal(asked[0]!.form.get("Status"), "completed");
    // Twilio ends the call: the media stream gets its stop.
    call.stop();
    const ended = await within(t.waitForEvent("call.ended"), "the end of the call");
    assert.equal(ended.reason, "hung_up_by_user");
    await within(call.closed, "the media socket to close");
    assert.equal((await store.getCall(call.callSid))!.endReason, "hung_up_by_user");
  });
});

Deno.test("hang-up: only calls Parley knows; a bad CallSid is 400 naming it; Twilio is never asked for others", async () => {
  await withTwilioParley(async (t, rest, store) => {
    const bad = await postHangUp(t, "%ZZ");
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.error), /CallSid "%ZZ" in the path is not valid percent-encoding/);
    assert.doesNotMatch(JSON.stringify(bad.body), /\bat \S+\.ts:\d+/, "no stack trace");
    const notSid = await postHangUp(t, "hello%0Aworld");
    assert.equal(notSid.status, 400);
    assert.match(String(notSid.body.error), /CallSid "hello\\nworld" in the path is not a CallSid/);

    // Some other call on the account: not relayed here, no record Parley placed or answered.
    const stranger = "CA" + "5".repeat(32);
    const unknown = await postHangUp(t, stranger);
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.body.error), new RegExp(`Call ${stranger} is not in progress`));
    assert.equal(rest.requests.length, 0, "Twilio was not asked to hang up a stranger's call");

    // A call Parley placed, still open (ringing, or relayed by another instance): Twilio hangs it up.
    const placed = "CA" + "6".repeat(32);
    await store.record({
      type: "call.placed",
      at: Date.now(),
      callSid: placed,
      persona: "alex",
      from: "+14155550199",
      to: "+14155550123",
      parameters: {},
    });
    assert.deepEqual(await postHangUp(t, placed), { status: 200, body: { callSid: placed, via: "twilio" } });
    assert.equal(rest.requests.length, 1);
    // Once its record ended, it is unknown again.
    await store.record({
      type: "call.ended",
      at: Date.now(),
      callSid: placed,
      reason: "never_connected",
      detail: "",
    });
    assert.equal((await postHangUp(t, placed)).status, 404);
    assert.equal(rest.requests.length, 1);
  });
});

Deno.test("softphone: hanging up in the browser (stop, then close) is recorded hung_up_by_user", async () => {
  await withParley(async (t) => {
    const cookie = await signIn(t);
    const url = `${t.origin}/api/softphone?persona=alex`;
    const socket = new WebSocket(url.replace("http", "ws"), { headers: { cookie, origin: t.origin } });
    const assigned = await within(
      new Promise<{ callSid: string; streamSid: string }>((resolve) =>
        socket.onmessage = (e) => resolve(JSON.parse(e.data))
      ),
      "the assigned call",
    );
    socket.onmessage = null;
    const closed = new Promise<void>((resolve) => socket.onclose = () => resolve());
    const { callSid, streamSid } = assigned;
    socket.send(JSON.stringify({
      event: "start",
      streamSid,
      start: {
        streamSid,
        callSid,
        accountSid: "",
        tracks: ["inbound"],
        customParameters: { persona: "alex" },
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
      },
    }));
    await within(t.waitForEvent("call.started"), "the browser call started");
    // What softphone.js's hangUp() sends.
    socket.send(
      JSON.stringify({ event: "stop", sequenceNumber: "2", streamSid, stop: { accountSid: "", callSid } }),
    );
    socket.close(1000);
    const ended = await within(t.waitForEvent("call.ended"), "the end of the call");
    assert.equal(ended.callSid, callSid);
    assert.equal(ended.reason, "hung_up_by_user");
    await within(closed, "the socket closed");
  });
});

Deno.test("softphone socket: a frame over 4 MiB closes it, as on the media socket, and the record says why", async () => {
  await withParley(async (t) => {
    const cookie = await signIn(t);
    const url = `${t.origin}/api/softphone?persona=alex`;
    const socket = new WebSocket(url.replace("http", "ws"), { headers: { cookie, origin: t.origin } });
    const { callSid, streamSid } = await within(
      new Promise<{ callSid: string; streamSid: string }>((resolve) =>
        socket.onmessage = (e) => resolve(JSON.parse(e.data))
      ),
      "the assigned call",
    );
    socket.onmessage = null;
    const closed = new Promise<void>((resolve) => socket.onclose = () => resolve());
    socket.send(JSON.stringify({
      event: "start",
      streamSid,
      start: { streamSid, callSid, accountSid: "", customParameters: { persona: "alex" } },
    }));
    await within(t.waitForEvent("call.started"), "the browser call started");
    const ended = t.waitForEvent("call.ended", (e) => e.callSid === callSid);
    // Over the cap, and naming "start": neither the softphone's own start check nor the relay reads it.
    const size = CLOSE_ON_FRAME_CHARS + 1;
    socket.send(`{"event":"start",${" ".repeat(size - 18)}}`);
    await within(closed, "the softphone socket to close");
    // Parley closed it, as on a phone call: not recorded as the user hanging up in the browser.
    const end = await within(ended, "the call's end");
    assert.equal(end.reason, "caller_hung_up");
    assert.equal(end.detail, `Parley closed the media socket: a frame of ${size} characters`);
    assert.match(
      await t.waitForLog(/Closed the softphone socket of CallSid=BR[0-9a-f]{32}: a frame of \d+ characters/),
      new RegExp(`CallSid=${callSid}: a frame of ${size} characters`),
    );
  });
});

Deno.test("softphone socket: needs a session and this origin, and refuses a start for another call", async () => {
  await withParley(async (t) => {
    const url = `${t.origin}/api/softphone?persona=alex`;
    const upgrade = {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    };
    const anonymous = await fetch(url, { headers: upgrade });
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
    const cookie = await signIn(t);
    const foreign = await fetch(url, { headers: { ...upgrade, cookie, origin: "https://evil.example" } });
    assert.equal(foreign.status, 403);
    await foreign.body?.cancel();
    const badVoice = await fetch(`${url}&voice=nova`, { headers: { ...upgrade, cookie, origin: t.origin } });
    assert.equal(badVoice.status, 400);
    await badVoice.body?.cancel();

    const socket = new WebSocket(url.replace("http", "ws"), { headers: { cookie, origin: t.origin } });
    const assigned = await within(
      new Promise<{ callSid: string; streamSid: string }>((resolve) =>
        socket.onmessage = (e) => resolve(JSON.parse(e.data))
      ),
      "the assigned call",
    );
    assert.match(assigned.callSid, /^BR[0-9a-f]{32}$/);
    const closed = new Promise<number>((resolve) => socket.onclose = (e) => resolve(e.code));
    socket.send(JSON.stringify({
      event: "start",
      streamSid: assigned.streamSid,
      start: { streamSid: assigned.streamSid, callSid: "CA" + "1".repeat(32), customParameters: {} },
    }));
    assert.equal(await within(closed, "the socket to close"), 1008);
    assert.equal(t.events.some((e) => e.type === "call.started"), false);
  });
});

Deno.test("softphone socket: refused at MAX_CONCURRENT_CALLS and while draining, like a phone call", async () => {
  await withParley(async (t) => {
    const cookie = await signIn(t);
    const url = `${t.origin}/api/softphone?persona=alex`;
    const upgrade = {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      cookie,
      origin: t.origin,
    };
    const call = await t.startCall({ persona: "alex" });
    const full = await fetch(url, { headers: upgrade });
    assert.equal(full.status, 503);
    assert.match((await full.json()).error, /^MAX_CONCURRENT_CALLS=1 calls are in progress/);
    call.close();
    await within(t.waitForEvent("call.ended"), "the phone call to end");

    const drained = t.parley.drain();
    const draining = await fetch(url, { headers: upgrade });
    assert.equal(draining.status, 503);
    assert.match((await draining.json()).error, /^The server is draining for a shutdown/);
    await within(drained, "the drain to finish");
  }, { MAX_CONCURRENT_CALLS: "1" });
});
