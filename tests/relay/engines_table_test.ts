/**
 * What both engines share, in one table: the same calls through the fake Twilio against the fake
 * Realtime API and the fake GPT-Live, over real sockets. Where the engines differ (barge-in,
 * transcripts, cost) see barge_in_test.ts, live_barge_in_test.ts and live_call_test.ts.
 */

import assert from "node:assert/strict";
import { type FakeLiveSession } from "../../testing/fake_live.ts";
import { type FakeRealtimeSession, toBase64, toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley, TEST_OPENAI_KEY, type TestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";

/** What the table reads of either fake's session. */
interface UpstreamView {
  received: { type: string; [k: string]: unknown }[];
  // deno-lint-ignore no-explicit-any
  waitFor(type: string, match: (e: any) => boolean): Promise<unknown>;
}

/** How a test drives one engine's fake. */
interface EngineCase {
  name: string;
  model: string;
  /** The client event carrying caller audio, and its field. */
  append: { type: string; field: string };
  /** The upstream session of the call, once it is configured (audio flows from then on). */
  configured(t: TestParley): Promise<UpstreamView>;
  /** The agent says `audio`. */
  say(t: TestParley, audio: Uint8Array): void;
  /** The server drops the connection. */
  drop(t: TestParley): void;
  refuse(t: TestParley, status: number): void;
  handshakes(t: TestParley): number;
  /** What the upstream saw when Twilio hung up: the Realtime socket just closes; GPT-Live is told. */
  hungUp(t: TestParley): Promise<void>;
}

const realtime = (t: TestParley) => t.upstream.sessions[0] as FakeRealtimeSession;
const live = (t: TestParley) => t.live.sessions[0] as FakeLiveSession;

const ENGINES: EngineCase[] = [
  {
    name: "Realtime",
    model: "gpt-realtime-2.1",
    append: { type: "input_audio_buffer.append", field: "audio" },
    async configured(t) {
      const session = await t.upstream.session(0);
      await session.waitFor("session.update");
      // Pre-warmed on the webhook, the session is configured before the stream starts.
      await t.waitForLog(/Stream started/);
      return session;
    },
    say: (t, audio) => void realtime(t).streamResponse({ responseId: "resp_1", itemId: "item_1", audio }),
    drop: (t) => realtime(t).close(1011, "server error"),
    refuse: (t, status) => t.upstream.refuseWith = status,
    handshakes: (t) => t.upstream.handshakes.length,
    hungUp: (t) => realtime(t).closed,
  },
  {
    name: "GPT-Live",
    model: "gpt-live-1.1",
    append: { type: "session.input_audio.append", field: "audio" },
    async configured(t) {
      const session = await t.live.session(0);
      await session.waitFor("session.start");
      await t.waitForLog(/Session configured/);
      return session;
    },
    say: (t, audio) => void live(t).voice.speak({ audio }),
    drop: (t) => live(t).drop(1011),
    refuse: (t, status) => t.live.refuseWith = status,
    handshakes: (t) => t.live.handshakes.length,
    async hungUp(t) {
      await live(t).waitFor("session.close");
      await live(t).closed;
    },
  },
];

async function withCall(
  engine: EngineCase,
  fn: (t: TestParley) => Promise<void>,
): Promise<void> {
  const persona = personaSource({ model: engine.model, voice: "marin", instructions: "Be brief." });
  await withPersonaDir({ "sam.ts": persona }, async (dir) => {
    const t = await startTestParley({ personasDir: dir, env: { DEFAULT_PERSONA: "sam" } });
    try {
      await fn(t);
    } finally {
      await t.close();
    }
  });
}

for (const engine of ENGINES) {
  Deno.test(`${engine.name}: caller audio reaches OpenAI byte-exact and in order`, async () => {
    await withCall(engine, async (t) => {
      const call = await t.startCall({});
      const session = await within(engine.configured(t), "the configured session");
      const frames = Array.from({ length: 20 }, (_, i) => new Uint8Array(160).fill(i + 1));
      for (const frame of frames) call.sendMedia(frame);
      const sent = frames.map(toBase64);
      const appended = () =>
        session.received.filter((e) => e.type === engine.append.type).map((e) => e[engine.append.field]);
      await within(session.waitFor(engine.append.type, (e) => e.audio === sent.at(-1)), "the last frame");
      assert.deepEqual(appended(), sent);
    });
  });

  Deno.test(`${engine.name}: agent audio reaches the caller byte-exact and its playback is tracked`, async () => {
    await withCall(engine, async (t) => {
      const call = await t.startCall({});
      await within(engine.configured(t), "the configured session");
      engine.say(t, toneBytes(300, 0x42));
      const end = await within(call.waitFor("mark", (m) => m.mark.name.endsWith(":300")), "the end mark");
      const start = call.messagesOf("mark")[0]!.mark.name as string;
      assert.match(start, /:0$/, "a start mark before the first audio");
      const payloads = call.messagesOf("media").map((m) => m.media.payload as string);
      assert.deepEqual(payloads.map((p) => atob(p)).join(""), String.fromCharCode(...toneBytes(300, 0x42)));
      const echo = await within(call.waitForEcho(end.mark.name as string), "playback reaching the end");
      // The fake's playback clock works in fractions of a ms: allow one byte (0.125 ms) of rounding.
      assert.ok(call.heardMsOf(0x42, echo.at + 1) >= 299.875, `heard ${call.heardMsOf(0x42)} ms`);
    });
  });

  Deno.test(`${engine.name}: a refused key ends the call in plain words, with no retry`, async () => {
    await withCall(engine, async (t) => {
      engine.refuse(t, 401);
      const call = await t.startCall({});
      await within(call.closed, "the Twilio socket closing, so the fallback plays");
      const line = await t.waitForLog(/Call ended/);
      assert.match(
        line,
        /reason=upstream_refused \(OpenAI refused the API key \(401\): check OPENAI_API_KEY\)/,
      );
      assert.equal(engine.handshakes(t), 1);
      assert.ok(!t.logs.some((l) => l.line.includes(TEST_OPENAI_KEY)), "the key never reaches the logs");
    });
  });

  Deno.test(`${engine.name}: an upstream that drops mid-call and cannot be reopened closes the Twilio socket`, async () => {
    await withCall(engine, async (t) => {
      const call = await t.startCall({});
      await within(engine.configured(t), "the configured session");
      engine.refuse(t, 503);
      engine.drop(t);
      await within(call.closed, "the Twilio socket closing", 3000);
      assert.match(
        await t.waitForLog(/Call ended/),
        /reason=upstream_dropped \(OpenAI closed the connection \(1011.*; no new session after \d+ tries/,
      );
      assert.ok(engine.handshakes(t) >= 7, "the first session and tries across the whole 2 s budget");
    });
  });

  Deno.test(`${engine.name}: Twilio's stop ends the upstream session`, async () => {
    await withCall(engine, async (t) => {
      const call = await t.startCall({});
      await within(engine.configured(t), "the configured session");
      call.stop();
      await within(engine.hungUp(t), "the upstream closing");
      assert.match(await t.waitForLog(/Call ended/), /reason=caller_hung_up \(Twilio sent stop\)/);
    });
  });
}
