/**
 * The call records API over a real socket: auth, list filters and their 400s, 404s, and the live SSE
 * feed read by a real streaming client (snapshot, then hub events in order; unsubscribed on abort).
 *
 * @module
 */

import { within } from "../../testing/within.ts";
import assert from "node:assert/strict";
import { type CallEvent, type CallEventListener } from "../../src/calls/call_events.ts";
import { CallHub } from "../../src/calls/call_hub.ts";
import { type CallRecordsOptions, createCallRecordsHandlers } from "../../src/api/call_records.ts";
import { routeSubset } from "../../testing/route_subset.ts";
import { type CallStore, openCallStore } from "../../src/store/sqlite/call_store.ts";

const TOKEN = "test-token-0123456789abcdef";
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** A hub that reports each subscription and unsubscription for `callSid`-scoped listeners. */
class WatchedHub {
  readonly hub = new CallHub();
  subscribed = Promise.withResolvers<void>();
  unsubscribed = Promise.withResolvers<void>();
  live = 0;

  subscribe(listener: CallEventListener, callSid?: string): () => void {
    const off = this.hub.subscribe(listener, callSid);
    if (callSid === undefined) return off;
    this.live++;
    this.subscribed.resolve();
    return () => {
      off();
      this.live--;
      this.unsubscribed.resolve();
    };
  }

  /** Fresh promises for the next client. */
  reset(): void {
    this.subscribed = Promise.withResolvers();
    this.unsubscribed = Promise.withResolvers();
  }
}

interface ServerHandle {
  url: string;
  close(): Promise<void>;
}

/** The three routes of the call records, behind the route table's guard (bearer token `apiToken`). */
function records(
  options: CallRecordsOptions,
  apiToken: string | undefined,
): (req: Request) => Promise<Response> {
  return routeSubset(createCallRecordsHandlers(options), { apiToken });
}

function serve(handler: (req: Request) => Promise<Response>): ServerHandle {
  const ac = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} }, (req) => {
    const { pathname } = new URL(req.url);
    if (req.method === "GET" && (pathname === "/api/calls" || pathname.startsWith("/api/calls/"))) {
      return handler(req);
    }
    return new Response("Not found", { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

interface SseFrame {
  event?: string;
  data?: string;
  comment?: string;
}

/** A streaming reader of `text/event-stream`: one frame per `next()`, undefined at the end. */
class SseClient {
  readonly abort = new AbortController();
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #buffer = "";
  #decoder = new TextDecoder();
  response: Response | undefined;

  async open(url: string): Promise<Response> {
    this.response = await fetch(url, { headers: AUTH, signal: this.abort.signal });
    if (this.response.body !== null) this.#reader = this.response.body.getReader();
    return this.response;
  }

  async next(): Promise<SseFrame | undefined> {
    assert.ok(this.#reader !== undefined);
    while (true) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const frame: SseFrame = {};
        for (const line of this.#buffer.slice(0, end).split("\n")) {
          if (line.startsWith(":")) frame.comment = line.slice(1).trim();
          else if (line.startsWith("event: ")) frame.event = line.slice(7);
          else if (line.startsWith("data: ")) frame.data = line.slice(6);
          else assert.fail(`unexpected SSE line ${JSON.stringify(line)}`);
        }
        this.#buffer = this.#buffer.slice(end + 2);
        return frame;
      }
      const { value, done } = await this.#reader.read();
      if (done) {
        assert.equal(this.#buffer, "", "stream ended inside a frame");
        return undefined;
      }
      this.#buffer += this.#decoder.decode(value, { stream: true });
    }
  }

  /** The client goes away mid-stream. */
  async disconnect(): Promise<void> {
    this.abort.abort();
    await this.#reader?.cancel().catch(() => {});
  }
}

async function seed(store: CallStore): Promise<void> {
  const events: CallEvent[] = [
    {
      type: "call.started",
      at: 1_000,
      callSid: "CA1",
      streamSid: "MZ1",
      persona: "sam",
      model: "gpt-realtime-2.1",
      parameters: {},
    },
    { type: "call.ended", at: 5_000, callSid: "CA1", reason: "caller_hung_up", detail: "" },
    {
      type: "call.webhook",
      at: 100_000,
      callSid: "CA2",
      persona: "alex",
      direction: "inbound",
      from: "+14155550100",
      to: "+14155550111",
      parameters: {},
    },
    {
      type: "call.placed",
      at: 200_000,
      callSid: "CA3",
      persona: "alex",
      from: "+14155550111",
      to: "+14155550100",
      parameters: {},
    },
  ];
  for (const event of events) store.record(event);
  await Promise.resolve();
}

async function getJson(url: string, headers: Record<string, string> = AUTH): Promise<[number, unknown]> {
  const response = await fetch(url, { headers });
  return [response.status, await response.json()];
}

Deno.test("call records API", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "parley_api_" });
  const store = openCallStore(`${dir}/parley.db`);
  const watched = new WatchedHub();
  watched.hub.subscribe(store.listener);
  const shutdown = new AbortController();
  const server = serve(records({
    store,
    hub: watched,
    heartbeatMs: 3_600_000,
    signal: shutdown.signal,
  }, TOKEN));
  const tokenless = serve(records({ store, hub: watched }, undefined));
  try {
    await seed(store);

    await t.step("503 without API_TOKEN, 401 without the right bearer", async () => {
      const [status, body] = await getJson(`${tokenless.url}/api/calls`);
      assert.equal(status, 503);
      assert.match((body as { error: string }).error, /set API_TOKEN/);
      const cases: [Record<string, string>, RegExp][] = [
        [{}, /Missing Authorization header/],
        [{ authorization: `Bearer ${TOKEN.slice(0, -1)}` }, /Wrong bearer token/],
        [{ authorization: "Basic x" }, /Wrong bearer token/],
      ];
      for (const [headers, message] of cases) {
        const response = await fetch(`${server.url}/api/calls`, { headers });
        assert.equal(response.status, 401);
        assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="parley"');
        assert.match((await response.json()).error, message);
      }
      const events = await fetch(`${server.url}/api/calls/CA1/events`);
      assert.equal(events.status, 401);
      await events.body?.cancel();
    });

    await t.step("lists newest first, with limit, persona and since", async () => {
      const sids = async (query: string) => {
        const [status, body] = await getJson(`${server.url}/api/calls${query}`);
        assert.equal(status, 200, query);
        return (body as { calls: { callSid: string }[] }).calls.map((c) => c.callSid);
      };
      assert.deepEqual(await sids(""), ["CA3", "CA2", "CA1"]);
      assert.deepEqual(await sids("?limit=2"), ["CA3", "CA2"]);
      assert.deepEqual(await sids("?persona=alex"), ["CA3", "CA2"]);
      assert.deepEqual(await sids("?persona=sam&limit=500"), ["CA1"]);
      assert.deepEqual(await sids("?since=100000"), ["CA3", "CA2"]);
      assert.deepEqual(await sids("?since=1970-01-01T00:01:40Z"), ["CA3", "CA2"]);
      assert.deepEqual(await sids("?since=1970-01-02"), []);
    });

    await t.step("400 naming the bad parameter", async () => {
      for (const limit of ["0", "501", "abc", "-1", "2.5", ""]) {
        const [status, body] = await getJson(`${server.url}/api/calls?limit=${limit}`);
        assert.equal(status, 400, limit);
        assert.equal(
          (body as { error: string }).error,
          `Invalid limit "${limit}": use an integer from 1 to 500`,
        );
      }
      for (const since of ["yesterday", "2026-13-45", "-5", "2026-11-02Tnoon"]) {
        const [status, body] = await getJson(`${server.url}/api/calls?since=${since}`);
        assert.equal(status, 400, since);
        assert.match(
          (body as { error: string }).error,
          new RegExp(`^Invalid since "${since}": use an ISO date`),
        );
      }
    });

    await t.step("one record; 404 naming the sid", async () => {
      const [status, body] = await getJson(`${server.url}/api/calls/CA1`);
      assert.equal(status, 200);
      assert.deepEqual(body, { ...JSON.parse(JSON.stringify(await store.getCall("CA1"))), outcome: null });
      assert.equal((body as { durationMs: number }).durationMs, 4_000);
      const [missing, error] = await getJson(`${server.url}/api/calls/CA404`);
      assert.equal(missing, 404);
      assert.deepEqual(error, { error: 'Call "CA404" not found' });
      const [other] = await getJson(`${server.url}/api/calls/CA1/transcript`);
      assert.equal(other, 404);
      const [unknownEvents, eventsError] = await getJson(`${server.url}/api/calls/CA404/events`);
      assert.equal(unknownEvents, 404);
      assert.deepEqual(eventsError, { error: 'Call "CA404" not found' });
    });

    await t.step(
      "SSE: snapshot, then live events in order; unsubscribed when the client aborts",
      async () => {
        watched.reset();
        store.record({
          type: "call.started",
          at: 300_000,
          callSid: "CA_LIVE",
          streamSid: "MZ_LIVE",
          persona: "alex",
          model: "gpt-realtime-2.1",
          parameters: {},
        });
        const client = new SseClient();
        const response = await client.open(`${server.url}/api/calls/CA_LIVE/events`);
        assert.equal(response.status, 200);
        assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
        const snapshot = await client.next();
        assert.equal(snapshot?.event, "snapshot");
        const record = JSON.parse(snapshot.data!);
        assert.equal(record.callSid, "CA_LIVE");
        assert.deepEqual(record.transcript, []);
        await within(watched.subscribed.promise, "the subscription");

        const live: CallEvent[] = [
          { type: "transcript", at: 300_100, callSid: "CA_LIVE", speaker: "agent", text: "Hi, I'm Alex." },
          {
            type: "turn.latency",
            at: 300_200,
            callSid: "CA_LIVE",
            firstAudioSentMs: 310,
            firstAudioHeardMs: 450,
          },
          {
            type: "transcript",
            at: 300_300,
            callSid: "CA_LIVE",
            speaker: "caller",
            text: 'Line 1\nline 2 "q"',
          },
          { type: "call.status", at: 300_400, callSid: "CA_LIVE", status: "in-progress", detail: "" },
        ];
        // Another call's events must not reach this stream.
        watched.hub.emit({
          type: "transcript",
          at: 1,
          callSid: "CA2",
          speaker: "agent",
          text: "not for you",
        });
        for (const event of live) watched.hub.emit(event);
        for (const event of live) {
          const frame = await within(client.next(), event.type);
          assert.equal(frame?.event, event.type);
          assert.deepEqual(JSON.parse(frame.data!), JSON.parse(JSON.stringify(event)));
        }
        assert.equal(watched.live, 1);
        await client.disconnect();
        await within(watched.unsubscribed.promise, "the unsubscribe");
        assert.equal(watched.live, 0);
      },
    );

    await t.step("SSE ends after call.ended", async () => {
      watched.reset();
      const client = new SseClient();
      await client.open(`${server.url}/api/calls/CA_LIVE/events`);
      const snapshot = await client.next();
      assert.equal(JSON.parse(snapshot?.data ?? "{}").transcript.length, 2);
      await within(watched.subscribed.promise, "the subscription");
      watched.hub.emit({
        type: "call.ended",
        at: 301_000,
        callSid: "CA_LIVE",
        reason: "agent_hung_up",
        detail: "bye",
      });
      assert.equal((await client.next())?.event, "call.ended");
      assert.equal(await within(client.next(), "the end of the stream"), undefined);
      await within(watched.unsubscribed.promise, "the unsubscribe");
      assert.equal(watched.live, 0);
      assert.equal((await store.getCall("CA_LIVE"))?.endReason, "agent_hung_up");
    });

    await t.step("SSE of an ended call: the snapshot only", async () => {
      const client = new SseClient();
      await client.open(`${server.url}/api/calls/CA_LIVE/events`);
      const snapshot = await client.next();
      assert.equal(snapshot?.event, "snapshot");
      assert.equal(JSON.parse(snapshot.data!).endReason, "agent_hung_up");
      assert.equal(await within(client.next(), "the end of the stream"), undefined);
      assert.equal(watched.live, 0);
    });

    await t.step("SSE ends on server shutdown", async () => {
      watched.reset();
      store.record({ type: "session.configured", at: 400_000, callSid: "CA_OPEN" });
      const client = new SseClient();
      await client.open(`${server.url}/api/calls/CA_OPEN/events`);
      assert.equal((await client.next())?.event, "snapshot");
      await within(watched.subscribed.promise, "the subscription");
      shutdown.abort();
      assert.equal(await within(client.next(), "the end of the stream"), undefined);
      await within(watched.unsubscribed.promise, "the unsubscribe");
      assert.equal(watched.live, 0);
    });
  } finally {
    await server.close();
    await tokenless.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SSE sends heartbeat comments", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_api_" });
  const store = openCallStore(`${dir}/parley.db`);
  const watched = new WatchedHub();
  store.record({ type: "session.configured", at: 1, callSid: "CA_HB" });
  const server = serve(records({ store, hub: watched, heartbeatMs: 5 }, TOKEN));
  try {
    const client = new SseClient();
    await client.open(`${server.url}/api/calls/CA_HB/events`);
    assert.equal((await client.next())?.event, "snapshot");
    assert.deepEqual(await within(client.next(), "a heartbeat"), { comment: "heartbeat" });
    await client.disconnect();
    await within(watched.unsubscribed.promise, "the unsubscribe");
  } finally {
    await server.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SSE: an event published while the snapshot is read comes next, and none is repeated", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_api_" });
  const kept = openCallStore(`${dir}/parley.db`);
  const hub = new CallHub();
  const offStore = hub.subscribe(kept.listener);
  const line = (text: string): CallEvent => ({
    type: "transcript",
    at: 2_000,
    callSid: "CA_RACE",
    speaker: "caller",
    text,
  });
  // The store answers asynchronously now: an event can land between the read and the subscription.
  const store: Pick<CallStore, "listCalls" | "getCall"> = {
    listCalls: (options) => kept.listCalls(options),
    getCall: async (callSid) => {
      const record = await kept.getCall(callSid);
      hub.emit(line("published during the read"));
      return record;
    },
  };
  hub.emit({ type: "session.configured", at: 1_000, callSid: "CA_RACE" });
  hub.emit(line("before the read"));
  const server = serve(records({ store, hub, heartbeatMs: 3_600_000 }, TOKEN));
  try {
    const client = new SseClient();
    await client.open(`${server.url}/api/calls/CA_RACE/events`);
    const snapshot = JSON.parse((await client.next())?.data ?? "{}");
    assert.deepEqual(snapshot.transcript.map((l: { text: string }) => l.text), ["before the read"]);
    assert.equal(snapshot.eventSeq, 2);
    const next = await within(client.next(), "the event published during the read");
    assert.equal(JSON.parse(next?.data ?? "{}").text, "published during the read");
    hub.emit(line("after the subscription"));
    const after = await within(client.next(), "the live event");
    assert.equal(JSON.parse(after?.data ?? "{}").text, "after the subscription");
    await client.disconnect();
  } finally {
    await server.close();
    offStore();
    kept.close();
    await Deno.remove(dir, { recursive: true });
  }
});
