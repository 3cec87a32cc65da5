/**
 * The GPT-Live wire modules together against the fake, the way an engine adapter will use them:
 * session.start, the greeting as commentary, caller audio in, agent audio and transcripts out,
 * turns assembled on the session timeline and mapped to the local clock, a clean close.
 */

import assert from "node:assert/strict";
import {
  commentaryAppendEvent,
  inputAudioAppendEvent,
  type LiveServerEvent,
  parseLiveEvent,
  sessionCloseEvent,
} from "../../../src/engines/live/events.ts";
import { sessionStartEvent } from "../../../src/engines/live/session.ts";
import { SessionClock, type TranscriptTurn, TurnAssembler } from "../../../src/engines/live/transcripts.ts";
import { FakeLiveServer } from "../../../testing/fake_live.ts";
import { toBase64, toneBytes } from "../../../testing/fake_realtime.ts";
import { sendFrames } from "../../../testing/send_frames.ts";
import { within } from "../../../testing/within.ts";

Deno.test("a GPT-Live call over the wire: greeting, caller turn, answer, turns and close", async () => {
  await using live = FakeLiveServer.start({
    usageIntervalMs: 100,
    silenceMs: 200,
    greeting: { audio: toneBytes(200, 0x31), transcript: "Hello, Acme here." },
    callerTurns: [{
      transcript: "I need a quote",
      answer: { audio: toneBytes(200, 0x32), transcript: "Sure thing." },
    }],
  });
  const socket = new WebSocket(live.url, { headers: { Authorization: "Bearer sk-test" } });
  const events: (LiveServerEvent & { at: number })[] = [];
  const turns = new TurnAssembler({ gapMs: 5000, settleMs: 100 });
  const ended: TranscriptTurn[] = [];
  let clock: SessionClock | undefined;
  let sentStartAt = 0;
  let notify = () => {};
  socket.onmessage = (message) => {
    const event = { ...parseLiveEvent(message.data as string), at: performance.now() };
    events.push(event);
    if (event.type === "session.started") clock = SessionClock.fromHandshake(sentStartAt, event.at);
    if (event.type === "session.input_transcript.delta" || event.type === "session.output_transcript.delta") {
      const speaker = event.type === "session.input_transcript.delta" ? "caller" : "agent";
      ended.push(...turns.add(speaker, event.delta, event.startMs, event.endMs));
    }
    notify();
  };
  const until = (what: string, done: () => boolean) =>
    within(new Promise<void>((resolve) => (notify = () => done() && resolve())), what);
  const opened = new Promise((resolve) => socket.onopen = resolve);
  const closed = new Promise((resolve) => socket.onclose = resolve);
  await within(opened, "the socket to open");

  sentStartAt = performance.now();
  socket.send(
    sessionStartEvent({ voice: "marin" }, { model: "gpt-live-1.1", instructions: "You are Acme's agent." }),
  );
  await until("session.started", () => clock !== undefined);
  socket.send(commentaryAppendEvent("Greet the caller as Acme."));
  await until("the greeting's transcript", () => turns.current("agent")?.text === "Hello, Acme here.");

  const audioDeltas = () => events.filter((e) => e.type === "session.output_audio.delta").length;
  await until("the whole greeting (10 deltas of 20 ms)", () => audioDeltas() >= 10);
  // The caller speaks 300 ms, then is quiet, in real time as Twilio sends it.
  const [speech, silence] = [toneBytes(20, 0x00), toneBytes(20, 0xff)];
  await sendFrames(
    { sendMedia: (bytes) => socket.send(inputAudioAppendEvent(toBase64(bytes))) },
    { frame: (ms) => ms < 300 ? speech : silence, forMs: 540 },
  );
  await until("the answer's transcript", () => turns.current("agent")?.text === "Sure thing.");
  await until("a usage report", () => events.some((e) => e.type === "session.usage.updated"));
  ended.push(...turns.idle(clock!.toSession(performance.now()) + 200));

  socket.send(sessionCloseEvent());
  await until("session.closed", () => events.some((e) => e.type === "session.closed"));
  await closed;
  ended.push(...turns.flush());

  assert.deepEqual(events.filter((e) => e.type === "invalid" || e.type === "error"), []);
  assert.deepEqual(ended.map((t) => [t.speaker, t.text]), [
    ["agent", "Hello, Acme here."],
    ["caller", "I need a quote"],
    ["agent", "Sure thing."],
  ]);
  const caller = ended[1]!;
  const answer = ended[2]!;
  assert.ok(caller.endMs <= answer.startMs, "the agent answered after the caller stopped");
  const firstAnswerAudio = events.find((e) =>
    e.type === "session.output_audio.delta" && e.at >= clock!.toLocal(caller.endMs)
  );
  assert.ok(firstAnswerAudio !== undefined);
  const latency = firstAnswerAudio.at - clock!.toLocal(caller.endMs);
  assert.ok(latency >= 0 && latency < 2000, `turn latency ${latency.toFixed(0)} ms`);
  const closedEvent = events.find((e) => e.type === "session.closed");
  assert.equal(closedEvent?.type === "session.closed" && closedEvent.reason, "close_requested");
});
