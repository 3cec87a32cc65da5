/**
 * The upstream session over real sockets against the fake Realtime server: the opening goes first,
 * everything sent before the session is ready is queued in order, an engine that waits for its
 * session holds audio until then, refusals and drops are reported once.
 */

import assert from "node:assert/strict";
import type { Engine, EngineEvent, SessionPlan } from "../../src/engines/engine.ts";
import { createRealtimeEngine } from "../../src/engines/realtime/engine.ts";
import { connectOpenAI, type UpstreamConnector } from "../../src/engines/upstream_socket.ts";
import { UpstreamSession } from "../../src/relay/upstream_session.ts";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";

const PLAN: SessionPlan = {
  persona: { voice: "marin" },
  model: "gpt-realtime-2.1",
  instructions: "Be brief.",
  voice: "marin",
  greeting: "Say hello.",
  history: [],
  tools: [],
};

function open(
  fake: FakeRealtimeServer,
  engine: Engine = createRealtimeEngine(fake.url),
  connect: UpstreamConnector = connectOpenAI,
) {
  const events: EngineEvent[] = [];
  const eventWaiters: (() => void)[] = [];
  const ended = Promise.withResolvers<{ reason: string; detail: string }>();
  const opened = Promise.withResolvers<number>();
  const session = new UpstreamSession({
    engine,
    model: "gpt-realtime-2.1",
    apiKey: "sk-test",
    connect,
    now: () => performance.now(),
    handlers: {
      onOpen: (ms) => opened.resolve(ms),
      onEvent: (event) => {
        events.push(event);
        eventWaiters.splice(0).forEach((w) => w());
      },
      onEnd: (reason, detail) => ended.resolve({ reason, detail }),
    },
  });
  const nextEvent = () => new Promise<void>((r) => eventWaiters.push(r));
  return { session, events, nextEvent, ended: ended.promise, opened: opened.promise };
}

Deno.test("upstream session sends the opening first, then what was queued before open, in order", async () => {
  const fake = FakeRealtimeServer.start();
  const { promise: hold, resolve: release } = Promise.withResolvers<void>();
  fake.holdHandshake = hold;
  const { session } = open(fake);
  session.sendAudio("AAAA");
  session.configure(createRealtimeEngine(fake.url).opening(PLAN));
  session.sendAudio("BBBB");
  assert.equal(session.open, false);
  release();
  const upstream = await fake.session(0);
  await upstream.waitFor("input_audio_buffer.append", (e) => e.audio === "BBBB");
  assert.deepEqual(upstream.received.map((e) => e.type), [
    "session.update",
    "response.create",
    "input_audio_buffer.append",
    "input_audio_buffer.append",
  ]);
  assert.equal(upstream.received[0]!.session.model, "gpt-realtime-2.1");
  assert.match(upstream.url, /\?model=gpt-realtime-2\.1$/);
  session.close();
  await upstream.closed;
  await fake.close();
});

Deno.test("upstream session on an engine that waits for its session holds audio until it is ready", async () => {
  const fake = FakeRealtimeServer.start();
  fake.answerSessionUpdate = false;
  const realtime = createRealtimeEngine(fake.url);
  const waiting: Engine = {
    ...realtime,
    capabilities: { ...realtime.capabilities, waitsForSession: true },
    opening: (plan) => ({
      first: realtime.opening({ ...plan, greeting: undefined }).first,
      afterReady: ['{"type":"response.create"}'],
    }),
  };
  const { session, nextEvent, opened } = open(fake, waiting);
  session.configure(waiting.opening(PLAN));
  session.sendAudio("AAAA");
  await opened;
  const upstream = await fake.session(0);
  await upstream.waitFor("session.update");
  const heard = nextEvent();
  upstream.send({ type: "response.created", response: { id: "resp_0" } }); // anything but ready
  await heard;
  assert.deepEqual(upstream.received.map((e) => e.type), ["session.update"], "audio waits");
  upstream.send({ type: "session.updated", session: {} });
  const append = await upstream.waitFor("input_audio_buffer.append");
  assert.equal(append.audio, "AAAA");
  assert.deepEqual(upstream.received.map((e) => e.type), [
    "session.update",
    "response.create",
    "input_audio_buffer.append",
  ], "after ready: the afterReady messages, then the queue");
  session.close();
  await upstream.closed;
  await fake.close();
});

Deno.test("upstream session reports a refused handshake in plain words, once", async () => {
  const fake = FakeRealtimeServer.start({ refuseWith: 401 });
  const { session, ended } = open(fake);
  session.sendAudio("AAAA");
  assert.deepEqual(await ended, {
    reason: "upstream_refused",
    detail: "OpenAI refused the API key (401): check OPENAI_API_KEY",
  });
  session.close();
  await fake.close();
});

Deno.test("upstream session reports the server closing; after close() it reports nothing", async () => {
  const fake = FakeRealtimeServer.start();
  const first = open(fake);
  const upstream = await fake.session(0);
  await first.opened;
  upstream.close(1011, "server error");
  assert.deepEqual(await first.ended, {
    reason: "upstream_dropped",
    detail: "OpenAI closed the connection (1011 server error)",
  });

  // The client socket's close event is where a report would come from: await it, then look.
  const clientClosed = Promise.withResolvers<void>();
  const second = open(fake, createRealtimeEngine(fake.url), (request, handlers) =>
    connectOpenAI(request, {
      ...handlers,
      onClose: (code, reason) => {
        handlers.onClose(code, reason);
        clientClosed.resolve();
      },
    }));
  let reported = false;
  void second.ended.then(() => reported = true);
  const upstream2 = await fake.session(1);
  await second.opened;
  second.session.close();
  await upstream2.closed;
  await clientClosed.promise;
  assert.equal(reported, false, "nothing reported after close()");
  await fake.close();
});

Deno.test("upstream session opened ahead of its call can be handed over: the new handlers get what follows", async () => {
  const fake = FakeRealtimeServer.start();
  const { promise: hold, resolve: release } = Promise.withResolvers<void>();
  fake.holdHandshake = hold;
  const first = open(fake);
  const opened = Promise.withResolvers<number>();
  const ready = Promise.withResolvers<void>();
  first.session.attach({
    onOpen: (ms) => opened.resolve(ms),
    onEvent: (event) => event.type === "session.ready" && ready.resolve(),
    onEnd() {},
  });
  first.session.configure(createRealtimeEngine(fake.url).opening({ ...PLAN, greeting: undefined }));
  release();
  assert.ok(await opened.promise >= 0);
  const upstream = await fake.session(0);
  await upstream.waitFor("session.update");
  await ready.promise; // the fake answered session.updated, and the new handlers heard it
  let firstOpened = false;
  void first.opened.then(() => firstOpened = true);
  await Promise.resolve();
  assert.equal(firstOpened, false, "the first handlers heard nothing");
  first.session.close();
  await upstream.closed;
  await fake.close();
});

Deno.test("upstream session hands its reader one emit function for every message (no closure per message)", async () => {
  const fake = FakeRealtimeServer.start();
  const realtime = createRealtimeEngine(fake.url);
  const emits = new Set<unknown>();
  let reads = 0;
  const engine: Engine = {
    ...realtime,
    reader: (now) => {
      const inner = realtime.reader(now);
      return {
        ...inner,
        read(text, emit) {
          reads++;
          emits.add(emit);
          inner.read(text, emit);
        },
      };
    },
  };
  const { session, events, nextEvent } = open(fake, engine);
  session.configure(engine.opening({ ...PLAN, greeting: undefined }));
  const upstream = await fake.session(0);
  await upstream.waitFor("session.update");
  upstream.send({ type: "response.created", response: { id: "r1" } });
  upstream.send({ type: "response.output_audio.delta", response_id: "r1", item_id: "i1", delta: "AAAA" });
  while (!events.some((e) => e.type === "agent.audio")) await nextEvent();
  assert.ok(reads >= 3, `the reader read ${reads} messages`);
  assert.equal(emits.size, 1, "every message was read with the same emit function");
  session.close();
  await upstream.closed;
  await fake.close();
});
