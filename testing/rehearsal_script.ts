/**
 * Plays both sides of a rehearsal on one {@linkcode FakeRealtimeServer}: the agent's session (opened
 * by Parley) and the simulated caller's (opened by the caller bridge) are told apart by their
 * `session.update` instructions, and scripted turn by turn.
 *
 * @module
 */

import {
  type FakeRealtimeServer,
  type FakeRealtimeSession,
  fromBase64,
  type ReceivedEvent,
  toneBytes,
} from "./fake_realtime.ts";

/** The caller bridge's instructions begin so (see `src/rehearsal/caller_bridge.ts`). */
const CALLER_MARK = "You are a person on a phone call";

/**
 * Resolves with the first session from number `from` on (open now or later) whose `session.update`
 * matches `caller`.
 */
export async function sessionOf(
  server: FakeRealtimeServer,
  caller: boolean,
  from = 0,
): Promise<FakeRealtimeSession> {
  for (let index = from;; index++) {
    const session = await server.session(index);
    const update = await session.waitFor("session.update");
    const instructions = String(update.session?.instructions ?? "");
    if (instructions.startsWith(CALLER_MARK) === caller) return session;
  }
}

/** The caller's and the agent's sessions of a rehearsal call: the first ones from number `from` on. */
export async function bothSessions(
  server: FakeRealtimeServer,
  from = 0,
): Promise<{ caller: FakeRealtimeSession; agent: FakeRealtimeSession }> {
  const [caller, agent] = await Promise.all([sessionOf(server, true, from), sessionOf(server, false, from)]);
  return { caller, agent };
}

/** Appended audio bytes equal to `value` a session has received, with their arrival times. */
export function heardBytes(session: FakeRealtimeSession, value: number): { bytes: number; at: number }[] {
  return session.eventsOf("input_audio_buffer.append").map((e: ReceivedEvent) => ({
    bytes: fromBase64(e.audio).filter((b) => b === value).length,
    at: e.at,
  })).filter((f) => f.bytes > 0);
}

/** Resolves once `session` has received at least `ms` of audio bytes equal to `value`. */
export async function waitForHeard(session: FakeRealtimeSession, value: number, ms: number): Promise<number> {
  for (;;) {
    const total = heardBytes(session, value).reduce((n, f) => n + f.bytes, 0) / 8;
    if (total >= ms) return performance.now();
    await session.waitFor("input_audio_buffer.append", (e) => e.at > performance.now() - 1);
  }
}

/** The agent's session reports the caller's words, as the transcription model would. */
export function callerSaid(agent: FakeRealtimeSession, text: string, itemId = "item_caller"): void {
  agent.send({
    type: "conversation.item.input_audio_transcription.completed",
    item_id: itemId,
    content_index: 0,
    transcript: text,
  });
}

/**
 * The shortest rehearsal call, on the sessions from number `from` on: the agent greets ("Hello!", 200 ms
 * of audio), and the caller answers with 100 ms of its own and hangs up.
 */
export async function greetThenHangUp(server: FakeRealtimeServer, from = 0): Promise<void> {
  const { caller, agent } = await bothSessions(server, from);
  await agent.waitFor("response.create");
  await agent.streamResponse({
    responseId: "r1",
    itemId: "i1",
    audio: toneBytes(200, 0x11),
    transcript: "Hello!",
  });
  await caller.streamResponse({
    responseId: "c1",
    itemId: "ci1",
    audio: toneBytes(100, 0x22),
    functionCalls: [{ callId: "h1", name: "hang_up", arguments: "{}" }],
  });
}
