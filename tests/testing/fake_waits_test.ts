/**
 * The fakes' waits fail when their socket closes, naming what they waited for: nothing more can arrive,
 * and a test that waited on would hang the suite instead of failing (issue 18 §5). The fake Twilio REST
 * API's request wait fails the same way when it shuts down.
 */

import assert from "node:assert/strict";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import { FakeTwilioCall } from "../../testing/fake_twilio.ts";
import { startFakeTwilioRest } from "../../testing/fake_twilio_rest.ts";

Deno.test("a fake Realtime session's wait fails when the socket closes; what came before is still found", async () => {
  const fake = FakeRealtimeServer.start();
  try {
    const client = new WebSocket(fake.url);
    await new Promise((resolve) => client.onopen = resolve);
    const session = await fake.session(0);
    client.send(JSON.stringify({ type: "session.update", session: {} }));
    await session.waitFor("session.update");
    const never = session.waitFor("response.create");
    client.close();
    await assert.rejects(never, /the fake Realtime session closed before response\.create came/);
    // An event received before the close is still there for a later wait.
    assert.equal((await session.waitFor("session.update")).type, "session.update");
  } finally {
    await fake.close();
  }
});

Deno.test("a fake Twilio call's waits fail when the media socket closes", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    // The server closes as soon as the call says it started, as Parley does with a refused start.
    socket.onmessage = (event) => {
      if (String(event.data).includes('"start"')) socket.close(1000);
    };
    return response;
  });
  try {
    const call = await FakeTwilioCall.connect(`ws://127.0.0.1:${server.addr.port}/`);
    const media = call.waitFor("media");
    const echo = call.waitForEcho("item_1:100");
    call.start();
    assert.equal(await call.closed, 1000);
    await assert.rejects(media, /the media socket closed before a media message came/);
    await assert.rejects(echo, /the media socket closed before mark item_1:100 was echoed/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("the fake Twilio REST API's request wait resolves on arrival, finds a past request, fails at shutdown", async () => {
  const rest = startFakeTwilioRest({ accountSid: `AC${"a".repeat(32)}`, authToken: "wait-token-0123456789" });
  try {
    const isCall = (r: { method: string; path: string }) =>
      r.method === "POST" && r.path.endsWith("/Calls.json");
    const coming = rest.waitForRequest(isCall);
    const before = Date.now();
    const answer = await fetch(`${rest.baseUrl}/2010-04-01/Accounts/AC${"a".repeat(32)}/Calls.json`, {
      method: "POST",
      body: new URLSearchParams({ To: "+14155550100" }),
    });
    await answer.body?.cancel();
    const request = await coming;
    assert.equal(request.form.get("To"), "+14155550100");
    assert.ok(request.at >= before && request.at <= Date.now(), "stamped with its arrival");
    assert.equal(await rest.waitForRequest(isCall), request, "a request already received is found");
    const never = rest.waitForRequest((r) => r.method === "DELETE");
    await rest.shutdown();
    await assert.rejects(never, /shut down before the awaited request came/);
  } finally {
    await rest.shutdown().catch(() => {});
  }
});
