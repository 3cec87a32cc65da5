/**
 * A malformed frame never ends a call: a seeded fuzz. A real call runs through Parley (fake Twilio and
 * fake Realtime, then fake GPT-Live, then the softphone page's socket instead of Twilio's); in the middle
 * of it, batches of malformed frames go in on both sides at once (`_frame_fuzz.ts`: every field of each
 * real event wrong, truncated JSON, non-objects, empty and binary frames, unknown and foreign events).
 * After each batch the call still works both ways, its record and the metrics stay sane, and the log
 * says so in a few lines, not one per frame.
 *
 * The seeds are fixed, so the suite is deterministic; a failure names its seed. Run one seed with
 * `FUZZ_SEED=7 deno test --allow-all tests/relay/frame_fuzz_test.ts`.
 */

import assert from "node:assert/strict";
import {
  type FakeRealtimeSession,
  fromBase64,
  SHORT_ANSWER_USAGE,
  toBase64,
  toneBytes,
} from "../../testing/fake_realtime.ts";
import { startTestParley, type TestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";
import { type Frame, liveGarbage, realtimeGarbage, seededRandom, twilioGarbage } from "./_frame_fuzz.ts";
import { sessionCookie } from "../../testing/sign_in.ts";

const API_TOKEN = "frame-fuzz-token-0123456789";
const SEEDS: readonly number[] = Deno.env.get("FUZZ_SEED") === undefined
  ? [1, 2, 3, 0x5eed]
  : [Number(Deno.env.get("FUZZ_SEED"))];

const TESTDATA_PERSONAS = new URL("../testdata/personas/", import.meta.url).pathname;
const LIVE_PERSONA = personaSource({
  model: "gpt-live-1.1",
  voice: "marin",
  instructions: "You are Sam. Keep answers short.",
});

/** Sends both batches interleaved, as they would arrive on a live call. */
function inject(
  call: { sendRaw(frame: Frame): void },
  twilio: Frame[],
  upstream: Frame[],
  send: (frame: Frame) => void,
): void {
  for (let i = 0; i < Math.max(twilio.length, upstream.length); i++) {
    if (i < twilio.length) call.sendRaw(twilio[i]!);
    if (i < upstream.length) send(upstream[i]!);
  }
}

/** Runs `batch` for seed `seed`; a failure names the seed and how to rerun it alone. */
async function forSeed(t: TestParley, seed: number, batch: () => Promise<void>): Promise<void> {
  try {
    await batch();
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    const log = t.logs.slice(-15).map((l) => `  ${l.level}: ${l.line.slice(0, 300)}`).join("\n");
    throw new Error(
      `frame fuzz failed for seed ${seed} (rerun: FUZZ_SEED=${seed}): ${why}\nlast log lines:\n${log}`,
      {
        cause: error,
      },
    );
  }
}

/** Every number in the call's record is finite, not negative and not absurd; its cost is a price. */
async function assertSaneRecord(t: TestParley, callSid: string): Promise<void> {
  const headers = { authorization: `Bearer ${API_TOKEN}` };
  const response = await fetch(`${t.origin}/api/calls/${callSid}`, { headers });
  assert.equal(response.status, 200);
  const text = await response.text();
  const record = JSON.parse(text);
  const walk = (value: unknown, path: string) => {
    if (typeof value === "number") {
      assert.ok(Number.isFinite(value) && value >= 0 && value < 1e13, `${path} = ${value}`);
    } else if (typeof value === "object" && value !== null) {
      for (const [key, child] of Object.entries(value)) walk(child, `${path}.${key}`);
    }
  };
  walk(record, "record");
  // A price, or unknown (null) after an impossible usage report (README: "Absurd usage"); never a wrong number.
  assert.ok(record.costUsd === null || record.costUsd < 1, `a call of seconds costs ${record.costUsd} USD`);
  assert.ok(record.minutes < 10, `a call of seconds lasts ${record.minutes} minutes`);
  for (const turn of record.turns) {
    assert.equal(typeof turn.firstAudioSentMs, "number", "a turn's latency is a number");
  }
  assert.equal(record.endedAt, null, "the call has not ended");
  // The process-wide totals too: one absurd report must not poison them until a restart.
  const metrics = await (await fetch(`${t.origin}/metrics`, { headers })).text();
  for (const line of metrics.split("\n").filter((l) => /^parley_\w*(cost|minutes)\w*[ {]/.test(l))) {
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    assert.ok(Number.isFinite(value) && value >= 0 && value < 10, `metrics: ${line}`);
  }
}

/** What Parley sent to the caller's side (the fake Twilio, or the softphone page). */
interface CallerSide {
  messagesOf(event: string): { event: string; media?: { payload: string } }[];
}

/** Every frame Parley sent Twilio is one Twilio plays: base64 μ-law audio, whole bytes. */
function assertPlayableAudio(call: CallerSide): void {
  for (const message of call.messagesOf("media")) {
    const payload = message.media!.payload;
    assert.ok(
      payload.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(payload),
      `Parley sent Twilio a media payload that is not base64: ${JSON.stringify(payload.slice(0, 80))}`,
    );
  }
}

/** Ms of audio of bytes `value` Parley sent the caller (each answer has its own value). */
function sentMsOf(call: CallerSide, value: number): number {
  let bytes = 0;
  for (const message of call.messagesOf("media")) {
    const { payload } = message.media!;
    for (const byte of fromBase64(payload)) if (byte === value) bytes++;
  }
  return bytes / 8;
}

/** The log stays readable: the dropped frames are counted, in a few rate-limited lines. */
function assertQuietLog(t: TestParley, dropped: number): void {
  const lines = t.logs.filter((l) => l.level === "warn" || l.level === "error").map((l) => l.line);
  // deno-lint-ignore no-control-regex
  assert.deepEqual(lines.filter((l) => /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(l)), []);
  // Whatever its level: only what was said (a transcript) may be long.
  const long = t.logs.filter((l) => l.line.length >= 1_000 && !/ said: "/.test(l.line));
  assert.deepEqual(long.map((l) => l.line.slice(0, 300)), [], "no line carries a whole frame");
  const malformed = lines.filter((l) => l.includes("Ignored a malformed frame from Twilio")).length;
  const unreadable = lines.filter((l) => l.includes("Unreadable event from OpenAI")).length;
  assert.ok(malformed >= 1 && malformed <= 2, `${malformed} malformed-frame lines`);
  assert.ok(unreadable >= 1 && unreadable <= 2, `${unreadable} unreadable-event lines`);
  assert.ok(
    lines.length < dropped / 4,
    `${lines.length} warnings for ${dropped} bad frames:\n${lines.join("\n")}`,
  );
}

/** The caller's leg of a fuzzed Realtime call: the fake Twilio, or the softphone page. */
interface FuzzedLeg extends CallerSide {
  streamSid: string;
  callSid: string;
  sendRaw(frame: Frame): void;
  sendMedia(bytes: Uint8Array): void;
}

/**
 * One batch of garbage a seed on both sides of a Realtime call, each followed by proof that the call
 * still works both ways: the caller's next frame reaches OpenAI, the agent's next answer reaches the
 * caller whole (its end mark read back through `endMark`), nothing ended, nothing replaced, and the
 * record's figures sane. Returns how many bad frames went in.
 */
async function realtimeRounds(
  t: TestParley,
  session: FakeRealtimeSession,
  side: { leg: FuzzedLeg; endMark: (name: string) => Promise<unknown>; open: () => boolean },
): Promise<number> {
  const { leg } = side;
  let dropped = 0;
  for (const [round, seed] of SEEDS.entries()) {
    await forSeed(t, seed, async () => {
      const random = seededRandom(seed);
      const caller = twilioGarbage(random, leg.streamSid, leg.callSid);
      const upstream = realtimeGarbage(random);
      dropped += caller.length + upstream.length;
      inject(leg, caller, upstream, (frame) => {
        if (typeof frame === "string") session.sendText(frame);
        else session.sendBinary(frame);
      });

      // The caller's next frame reaches OpenAI.
      const frame = toneBytes(20, 0x40 + round);
      leg.sendMedia(frame);
      await within(
        session.waitFor("input_audio_buffer.append", (e) => e.audio === toBase64(frame)),
        "the caller's frame after the batch",
      );
      // The agent's next answer reaches the caller, and its end mark is read back.
      const itemId = `item_ok_${round}`;
      await session.streamResponse({
        responseId: `resp_ok_${round}`,
        itemId,
        audio: toneBytes(100, 0x50 + round),
        chunkBytes: 400,
        intervalMs: 1,
        usage: SHORT_ANSWER_USAGE,
      });
      await within(side.endMark(`${itemId}:100`), "the answer's end mark");
      assertPlayableAudio(leg);
      assert.equal(sentMsOf(leg, 0x50 + round), 100, "the whole answer went to the caller");
      assert.ok(side.open(), "the caller's socket is open");
      assert.equal(t.parley.activeCalls(), 1);
      assert.deepEqual(t.events.filter((e) => e.type === "call.ended"), []);
      assert.equal(t.upstream.sessions.length, 1, "the session was never replaced");
      await assertSaneRecord(t, leg.callSid);
    });
  }
  return dropped;
}

Deno.test("fuzz: malformed frames from Twilio and the Realtime API never end a call", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_frame_fuzz_" });
  const store = openCallStore(`${dataDir}/parley.db`);
  const t = await startTestParley({
    personasDir: TESTDATA_PERSONAS,
    env: { DEFAULT_PERSONA: "tester", API_TOKEN },
    store,
  });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await within(t.upstream.session(0), "the Realtime session");
    await session.waitFor("session.update");
    const dropped = await realtimeRounds(t, session, {
      leg: call,
      endMark: (name) => call.waitForEcho(name),
      open: () => call.open,
    });
    assertQuietLog(t, dropped);
    call.stop();
    await within(t.waitForEvent("call.ended"), "the end");
  } finally {
    await t.close();
    store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("fuzz: malformed frames from Twilio and GPT-Live never end a call", async () => {
  await withPersonaDir({ "sam.ts": LIVE_PERSONA }, async (dir) => {
    const dataDir = await Deno.makeTempDir({ prefix: "parley_frame_fuzz_live_" });
    const store = openCallStore(`${dataDir}/parley.db`);
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "sam", API_TOKEN },
      store,
      live: { usageIntervalMs: 0 },
    });
    try {
      const call = await t.startCall({ persona: "sam" });
      const session = await within(t.live.session(0), "the GPT-Live session");
      await session.waitFor("session.start");
      let dropped = 0;
      for (const [round, seed] of SEEDS.entries()) {
        await forSeed(t, seed, async () => {
          const random = seededRandom(seed);
          const twilio = twilioGarbage(random, call.streamSid, call.callSid);
          const upstream = liveGarbage(random);
          dropped += twilio.length + upstream.length;
          inject(call, twilio, upstream, (frame) => {
            if (typeof frame === "string") session.sendText(frame);
            else session.sendBinary(frame);
          });

          const frame = toneBytes(20, 0x40 + round);
          call.sendMedia(frame);
          await within(
            session.waitFor("session.input_audio.append", (e) => e.audio === toBase64(frame)),
            "the caller's frame after the batch",
          );
          const value = 0x50 + round;
          const { stopped } = await session.voice.speak({
            audio: toneBytes(100, value),
            transcript: "Fine thank you",
          });
          assert.equal(stopped, false);
          const spokenAt = performance.now();
          // A mark sent after the answer's last delta: its echo means the whole answer was played.
          const mark = await within(call.waitFor("mark", (m) => m.at > spokenAt), "a mark after the answer");
          await within(call.waitForEcho(mark.mark.name), "that mark echoed");
          assertPlayableAudio(call);
          // Played or cleared: a caller turn the batch opened may have the model give way (and the rest
          // of its answer cleared), as it would on a call.
          assert.equal(sentMsOf(call, value), 100, "the whole answer went to the caller");
          assertPlayableAudio(call);
          assert.ok(call.open, "the media socket is open");
          assert.equal(t.parley.activeCalls(), 1);
          assert.deepEqual(t.events.filter((e) => e.type === "call.ended"), []);
          assert.equal(t.live.sessions.length, 1, "the session was never replaced");
          await assertSaneRecord(t, call.callSid);
        });
      }
      assertQuietLog(t, dropped);
      call.stop();
      await within(t.waitForEvent("call.ended"), "the end");
      // Each answer's words stayed in one turn: no fragment of one became a line of its own.
      const split = t.logs.filter((l) => /AI said: "(Fine|thank|you)"/.test(l.line)).map((l) => l.line);
      assert.deepEqual(split, [], "an answer split into lines");
    } finally {
      await t.close();
      store.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
});

/** The page's side of a softphone call, as softphone.js speaks it: Media Stream frames, marks echoed. */
class SoftphonePage {
  readonly received: { event: string; media?: { payload: string }; mark?: { name: string } }[] = [];
  readonly closed: Promise<void>;
  #waiters: { event: string; name: string; resolve: () => void }[] = [];

  private constructor(readonly socket: WebSocket, readonly callSid: string, readonly streamSid: string) {
    this.closed = new Promise((resolve) => socket.onclose = () => resolve());
    socket.onmessage = (e) => {
      const message = JSON.parse(e.data);
      this.received.push(message);
      if (message.event === "mark") {
        // The page echoes a mark once its audio has played; here at once.
        this.sendRaw(JSON.stringify({ event: "mark", streamSid, mark: { name: message.mark.name } }));
      }
      this.#waiters = this.#waiters.filter((w) => {
        if (w.event !== message.event || (w.name !== "" && w.name !== message.mark?.name)) return true;
        w.resolve();
        return false;
      });
    };
  }

  /** Opens the softphone socket for `persona`, signed in with `cookie`, and starts the assigned call. */
  static async open(t: TestParley, cookie: string, persona: string): Promise<SoftphonePage> {
    const url = `${t.origin.replace("http", "ws")}/api/softphone?persona=${persona}`;
    const socket = new WebSocket(url, { headers: { cookie, origin: t.origin } });
    const { callSid, streamSid } = await within(
      new Promise<{ callSid: string; streamSid: string }>((resolve) =>
        socket.onmessage = (e) => resolve(JSON.parse(e.data))
      ),
      "the assigned call",
    );
    const page = new SoftphonePage(socket, callSid, streamSid);
    page.sendRaw(JSON.stringify({
      event: "start",
      streamSid,
      start: { streamSid, callSid, accountSid: "", customParameters: { persona } },
    }));
    return page;
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  sendRaw(frame: Frame): void {
    if (this.open) this.socket.send(frame);
  }

  sendMedia(bytes: Uint8Array): void {
    this.sendRaw(
      JSON.stringify({ event: "media", streamSid: this.streamSid, media: { payload: toBase64(bytes) } }),
    );
  }

  messagesOf(event: string): { event: string; media?: { payload: string } }[] {
    return this.received.filter((m) => m.event === event);
  }

  /** Resolves once Parley sent the mark `name`. */
  markSent(name: string): Promise<void> {
    if (this.received.some((m) => m.event === "mark" && m.mark?.name === name)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ event: "mark", name, resolve }));
  }
}

Deno.test("fuzz: malformed frames from the softphone page and the Realtime API never end a browser call", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley_frame_fuzz_softphone_" });
  const store = openCallStore(`${dataDir}/parley.db`);
  const t = await startTestParley({ env: { API_TOKEN }, store });
  try {
    const page = await SoftphonePage.open(t, await sessionCookie(t.origin, API_TOKEN), "alex");
    await within(t.waitForEvent("call.started"), "the browser call started");
    const session = await within(t.upstream.session(0), "the Realtime session");
    await session.waitFor("session.update");
    const dropped = await realtimeRounds(t, session, {
      leg: page,
      endMark: (name) => page.markSent(name),
      open: () => page.open,
    });
    assertQuietLog(t, dropped);
    page.socket.close();
    await page.closed;
    await within(t.waitForEvent("call.ended"), "the end");
  } finally {
    await t.close();
    store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
