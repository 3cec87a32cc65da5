/**
 * The first reads after Postgres restarts, under the real process: Postgres is restarted (the
 * restart option) behind a proxy that hides each session's end from Parley until it next uses the
 * connection (as a load balancer, a NAT or a failover to the same address does), so Parley's pool is
 * full of connections that died a moment ago. A call placed right after still starts (the voice
 * webhook answers TwiML, the media stream is accepted and the greeting plays) and an API read
 * answers 200: a read that fails on a dead connection is run again on a fresh one. After a second
 * restart, sign-ins side by side all succeed: a sign-in's writes are safe to repeat, and are. After a
 * third, leads saved side by side are all saved once: a transaction whose connection was dead at its
 * BEGIN is begun again on a fresh one.
 */

import assert from "node:assert/strict";
import { FakeRealtimeServer, toneBytes } from "../../testing/fake_realtime.ts";
import {
  listeningPort,
  type ParleyProcess,
  PROCESS_API_TOKEN,
  PROCESS_TARGET,
  processEnv,
  reap,
  spawnParley,
} from "../../testing/parley_process.ts";
import { VOICE_WEBHOOK_PATH } from "../../src/paths.ts";
import { connectStream, newCallSid, postVoiceWebhook } from "../../testing/twilio_webhook.ts";
import { postgresAvailable, startThrowawayPostgres } from "../../testing/postgres.ts";
import { startSilentDropProxy } from "../../testing/silent_drop_proxy.ts";
import { within } from "../../testing/within.ts";
import { sessionCookie } from "../../testing/sign_in.ts";

Deno.test({
  name:
    "just after a Postgres restart, a call starts normally, an API read answers 200, a sign-in and a lead's save succeed",
  ignore: !postgresAvailable() || (Deno.env.get("PARLEY_TEST_DATABASE_URL") ?? "") !== "",
  async fn() {
    const server = await startThrowawayPostgres();
    const proxy = startSilentDropProxy(Number(new URL(server.url).port));
    const upstream = FakeRealtimeServer.start();
    const dataDir = await Deno.makeTempDir({ prefix: "parley_pg_reads_" });
    let parley: ParleyProcess | undefined;
    try {
      const url = new URL(await server.createDatabase());
      url.port = String(proxy.port);
      parley = await spawnParley(
        "start",
        processEnv({ upstreamUrl: upstream.url, dataDir }, {
          DATABASE_URL: url.toString(),
        }),
      );
      const port = await listeningPort(parley);
      const auth = { authorization: `Bearer ${PROCESS_API_TOKEN}` };
      const apiRead = async () => {
        const response = await fetch(`http://127.0.0.1:${port}/api/calls?limit=5`, { headers: auth });
        await response.body?.cancel();
        return response.status;
      };
      // Reads side by side: the pool opens its connections (10 by default).
      assert.deepEqual(await Promise.all(Array.from({ length: 20 }, apiRead)), Array(20).fill(200));

      await server.restart!(() => Promise.resolve());

      // Right after: the voice webhook, its media stream, an API read.
      const target = { port, ...PROCESS_TARGET };
      const callSid = newCallSid();
      const answer = await postVoiceWebhook(target, callSid, `${VOICE_WEBHOOK_PATH}?persona=tester`);
      assert.equal(answer.status, 200, answer.twiml);
      assert.ok(answer.streamUrl !== undefined, `TwiML with a stream: ${answer.twiml}`);
      const call = await connectStream(target, answer.streamUrl, callSid);
      try {
        call.start({ persona: "tester" });
        const session = await within(upstream.session(0), "the upstream session");
        await within(session.waitFor("response.create"), "the greeting asked for");
        await session.streamResponse({ responseId: "r1", itemId: "i1", audio: toneBytes(100, 3) });
        await within(call.waitFor("media"), "the greeting heard");
      } finally {
        call.stop();
      }
      assert.equal(await apiRead(), 200);
      // The pool's connections were dead indeed: the proxy cut the ones used after the restart.
      assert.ok(proxy.cut > 0, "a dead connection was used");

      // Restarted again: signing in writes the session (repeatable writes), side by side, so the
      // pool's dead connections take some of them.
      assert.deepEqual(await Promise.all(Array.from({ length: 20 }, apiRead)), Array(20).fill(200));
      const cutBefore = proxy.cut;
      await server.restart!(() => Promise.resolve());
      const origin = `http://127.0.0.1:${port}`;
      const cookies = await Promise.all(
        Array.from({ length: 8 }, () => sessionCookie(origin, PROCESS_API_TOKEN)),
      ).catch((error) => {
        // What Parley logged says why (its 500s are logged with their error).
        const logged = parley!.stderr.lines.slice(-20).join("\n");
        throw new Error(
          `${error instanceof Error ? error.message : error}; Parley's last errors:\n${logged}`,
        );
      });
      assert.ok(proxy.cut > cutBefore, "a sign-in met a dead connection");
      // Each session was stored: it opens a page.
      for (const cookie of cookies) {
        const page = await fetch(`${origin}/calls`, { headers: { cookie }, redirect: "manual" });
        await page.body?.cancel();
        assert.equal(page.status, 200, "a page with the session from a sign-in just after the restart");
      }

      // Restarted a third time: leads saved side by side (each a transaction) are all saved; the ones
      // whose pooled connection was dead at BEGIN are begun again on a fresh one.
      assert.deepEqual(await Promise.all(Array.from({ length: 20 }, apiRead)), Array(20).fill(200));
      const cutBeforeLeads = proxy.cut;
      await server.restart!(() => Promise.resolve());
      const saved = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
        const response = await fetch(`${origin}/api/leads`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ name: `Lead ${i}`, phone: `+1415555010${i}` }),
        });
        const text = await response.text();
        return `${response.status} ${response.status === 201 ? "" : text}`.trim();
      }));
      assert.deepEqual(saved, Array(8).fill("201"));
      assert.ok(proxy.cut > cutBeforeLeads, "a lead's transaction met a dead connection");
      const listed = await fetch(`${origin}/api/leads`, { headers: auth });
      assert.equal((await listed.json()).total, 8, "each lead saved once");
    } finally {
      if (parley !== undefined) await reap(parley);
      await upstream.close();
      await proxy.close();
      await server.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
