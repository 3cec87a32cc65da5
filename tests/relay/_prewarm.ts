/**
 * What the pre-warm tests share (prewarm_test.ts, prewarm_replacement_test.ts, prewarm_plan_test.ts):
 * how a test drives each engine's fake, a Parley started on a one-persona folder, and its metrics.
 */

import assert from "node:assert/strict";
import type { FakeLiveOptions, FakeLiveSession } from "../../testing/fake_live.ts";
import { type FakeRealtimeSession, toneBytes } from "../../testing/fake_realtime.ts";
import type { FakeTwilioCall } from "../../testing/fake_twilio.ts";
import { startTestParley, type TestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";

/** The byte every frame of the agent's greeting is made of. */
export const GREETING_BYTE = 0x11;

/** How a test drives one engine's fake. */
export interface EngineCase {
  name: string;
  model: string;
  /** Session `index` upstream, once it has asked for the greeting. */
  greetingAsked(t: TestParley, index: number): Promise<void>;
  /** The agent says `ms` of greeting on session `index`; resolves once all of it was sent. */
  greet(t: TestParley, index: number, ms: number): Promise<void>;
  /** Sessions opened upstream. */
  sessions(t: TestParley): { closed: Promise<void> }[];
  /** What the engine's fake does on its own. */
  live?: FakeLiveOptions;
  /**
   * The caller cuts in over the greeting; resolves with the ms the engine was told (or cleared at), and
   * when known a time the cut cannot have come before (Twilio played on from then until the clear).
   */
  bargeIn(t: TestParley, call: FakeTwilioCall): Promise<{ cutMs: number; notBefore?: number }>;
}

/** Realtime session `i` of `t`'s fake, once it has opened. */
export const realtime = (t: TestParley, i: number): FakeRealtimeSession =>
  t.upstream.sessions[i] as FakeRealtimeSession;
const live = (t: TestParley, i: number) => t.live.sessions[i] as FakeLiveSession;

/** Both engines, Realtime first. */
export const ENGINES: EngineCase[] = [
  {
    name: "Realtime",
    model: "gpt-realtime-2.1",
    async greetingAsked(t, i) {
      await (await t.upstream.session(i)).waitFor("response.create");
    },
    async greet(t, i, ms) {
      await realtime(t, i).streamResponse({
        responseId: "resp_greet",
        itemId: "item_greet",
        audio: toneBytes(ms, GREETING_BYTE),
        intervalMs: 10, // 100 ms deltas, 10x real time
      });
    },
    sessions: (t) => t.upstream.sessions,
    async bargeIn(t) {
      const notBefore = performance.now();
      realtime(t, 0).speechStarted();
      const truncate = await realtime(t, 0).waitFor("conversation.item.truncate");
      assert.equal(truncate.item_id, "item_greet");
      return { cutMs: truncate.audio_end_ms as number, notBefore };
    },
  },
  {
    name: "GPT-Live",
    model: "gpt-live-1.1",
    live: { callerTurns: [{ transcript: "Wait." }], silenceMs: 200 },
    async greetingAsked(t, i) {
      await (await t.live.session(i)).waitFor("session.commentary.append");
    },
    async greet(t, i, ms) {
      // Paced, but ahead of real time by all but the last 300 ms.
      await live(t, i).voice.speak({ audio: toneBytes(ms, GREETING_BYTE), leadMs: Math.max(0, ms - 300) });
    },
    sessions: (t) => t.live.sessions,
    async bargeIn(t, call) {
      // The model already finished its greeting; the caller speaks over what Twilio still holds
      // (300 ms of speech, then quiet until the cut), in real time as a phone sends it.
      const cut = t.waitForEvent("interruption");
      await sendFrames(call, {
        frame: (ms) => toneBytes(20, ms < 300 ? 0x10 : 0xff),
        until: cut,
        forMs: 3000,
      });
      return { cutMs: (await cut).audioEndMs };
    },
  },
];

/**
 * Runs `fn` against a Parley whose one persona, `sam`, is `engine`'s with `persona` on top, metrics
 * public; `prewarmTtlMs`, when given, is how long a pre-warm waits to be claimed.
 */
export async function withParley(
  engine: EngineCase,
  persona: Record<string, unknown>,
  fn: (t: TestParley) => Promise<void>,
  prewarmTtlMs?: number,
): Promise<void> {
  const source = personaSource({
    model: engine.model,
    voice: "marin",
    instructions: "Be brief.",
    ...persona,
  });
  await withPersonaDir({ "sam.ts": source }, async (dir) => {
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "sam", INBOUND_PERSONA: "sam", METRICS_PUBLIC: "on" },
      ...(prewarmTtlMs === undefined ? {} : { prewarmTtlMs }),
      ...(engine.live === undefined ? {} : { live: engine.live }),
    });
    try {
      await fn(t);
    } finally {
      await t.close();
    }
  });
}

/** A persona's greeting, for `withParley`. */
export const GREETS = { greeting: "Greet the caller." };

/** The metrics `t` exposes, as Prometheus text. */
export async function scrape(t: TestParley): Promise<string> {
  return await (await fetch(`${t.origin}/metrics`)).text();
}
