/**
 * One recorded call through the harness, shared by the recording tests: the caller is silent, speaks
 * for 400 ms, then is silent again; the agent's 3 s greeting is cut by a barge-in 1 s in. A test tap
 * beside the recorder notes the call times of each part, to find them in the WAV; the WAV's length is
 * checked against the call's record (`durationMs` of `GET /api/calls/:sid`), not against the tap.
 */

import assert from "node:assert/strict";
import { decodeMulawSample } from "../../src/audio/mulaw.ts";
import { readWav, SAMPLE_RATE } from "../../src/recordings/wav.ts";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { mulawDurationMs } from "../../src/twilio/media_stream.ts";
import type { TestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import type { CallTapListener, FrameTap } from "../../src/relay/frame_tap.ts";

/** μ-law silence (decodes to 0). */
export const SILENCE = 0xff;
/** The caller's speech byte (a loud constant level). */
export const CALLER_BYTE = 0x20;
/** The agent's greeting byte (another loud level). */
export const AGENT_BYTE = 0x11;

/** What the test tap saw, in call time (ms). */
export interface CallTimes {
  callSid: string;
  /** When the caller's first speech frame was spoken and its last ended, by Twilio's clock (stream time). */
  speechFrom: number;
  speechTo: number;
  /**
   * Where the greeting played, as `[fromMs, toMs)` runs of its chunks, the first from its first chunk
   * (one run unless the audio ran dry at Twilio, as on a machine that stalled longer than the audio
   * queued ahead, or a late mark echo moved the playback estimate by more than {@linkcode RUN_GAP_MS}).
   */
  agentRuns: [number, number][];
  /** Where Twilio was cleared (barge-in). */
  cutAt: number;
}

/** A tap noting the times of {@linkcode CallTimes}; `times()` reads them once the call ended. */
export function timesTap(): { tap: FrameTap; times: () => CallTimes } {
  const seen: Partial<CallTimes> = {};
  const tap: FrameTap = (call) => {
    seen.callSid = call.callSid;
    const listener: CallTapListener = {
      callerFrame(_at, payload, streamAt) {
        if (atob(payload).charCodeAt(0) !== CALLER_BYTE) return;
        // What the caller said when, as the recorder places it: not when a loaded machine read it.
        if (streamAt === undefined) throw new Error("a caller frame of the fake Twilio without stream time");
        seen.speechFrom ??= streamAt;
        seen.speechTo = streamAt + 20;
      },
      agentAudio(playAt, _itemId, _itemMs, payload) {
        const runs = seen.agentRuns ??= [];
        const last = runs.at(-1);
        const to = playAt + mulawDurationMs(payload);
        // A chunk that starts where the last one ended extends its run; a late mark echo moves the
        // clock's estimate by a few ms, which is no gap.
        if (last !== undefined && playAt - last[1] <= RUN_GAP_MS) last[1] = Math.max(last[1], to);
        else runs.push([playAt, to]);
      },
      agentCut(at) {
        seen.cutAt ??= at;
      },
    };
    return listener;
  };
  return {
    tap,
    times: () => {
      for (const key of ["callSid", "speechFrom", "speechTo", "agentRuns", "cutAt"] as const) {
        if (seen[key] === undefined) throw new Error(`the test tap saw no ${key}`);
      }
      return seen as CallTimes;
    },
  };
}

/** Runs the call on `t` (persona `recorder`) and hangs up; resolves with its CallSid. */
export async function recordedCall(t: TestParley): Promise<string> {
  const call = await t.startCall({ persona: "recorder" });
  const session = await t.upstream.session(0);
  await session.waitFor("response.create");
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => stop = resolve);
  // Like Twilio, the caller's frames keep coming all call long.
  const caller = sendFrames(call, {
    frame: (ms) => new Uint8Array(160).fill(ms >= 300 && ms < 700 ? CALLER_BYTE : SILENCE),
    until: stopped,
  });
  await session.waitFor(
    "input_audio_buffer.append",
    () => session.eventsOf("input_audio_buffer.append").length >= 40,
  );
  const greeting = session.streamResponse({
    responseId: "resp_greet",
    itemId: "item_greet",
    audio: toneBytes(3000, AGENT_BYTE),
    intervalMs: 60,
    inFlightAfterCancel: 3,
  });
  await call.waitForEcho("item_greet:1000");
  session.speechStarted();
  await session.waitFor("conversation.item.truncate");
  await greeting;
  // Half a second of the caller after the cut, then hang up.
  const frames = session.eventsOf("input_audio_buffer.append").length;
  await session.waitFor(
    "input_audio_buffer.append",
    () => session.eventsOf("input_audio_buffer.append").length >= frames + 25,
  );
  stop();
  await caller;
  call.close();
  return call.callSid;
}

/**
 * The call's `durationMs` as its record says (`GET /api/calls/:callSid`), once the call has ended: what
 * the recording's length is checked against. Read before the server shuts down.
 */
export async function recordedDuration(t: TestParley, callSid: string, apiToken: string): Promise<number> {
  await t.waitForEvent("call.ended", (e) => e.callSid === callSid);
  const response = await fetch(`${t.origin}/api/calls/${callSid}`, {
    headers: { Authorization: `Bearer ${apiToken}` },
  });
  assert.equal(response.status, 200, `GET /api/calls/${callSid}`);
  const record: { endedAt: number | null; durationMs: number | null } = await response.json();
  assert.notEqual(record.endedAt, null, "the record says the call ended");
  assert.equal(typeof record.durationMs, "number", "the record has the call's duration");
  return record.durationMs!;
}

/** What {@linkcode assertRecordedCall} checks a WAV against. */
export interface RecordedCallFacts {
  /** What the test tap saw. */
  times: CallTimes;
  /** The call record's `durationMs` ({@linkcode recordedDuration}). */
  durationMs: number;
}

/** How far an edge may sit from the tap's time (jitter joined, scheduling on a loaded machine), ms. */
const EDGE_MS = 80;

/** A pause between two agent chunks up to this is within one run (the estimate's jitter), ms. */
const RUN_GAP_MS = 40;

/** Mean absolute sample of `samples` between `fromMs` and `toMs`. */
function level(samples: Int16Array, fromMs: number, toMs: number): number {
  const from = Math.max(0, Math.round((fromMs * SAMPLE_RATE) / 1000));
  const to = Math.min(samples.length, Math.round((toMs * SAMPLE_RATE) / 1000));
  assert.ok(to > from, `window ${fromMs}–${toMs} ms is inside the recording (${samples.length} samples)`);
  let sum = 0;
  for (let i = from; i < to; i++) sum += Math.abs(samples[i]!);
  return sum / (to - from);
}

/** `samples` by 100 ms, a character each: `#` loud (over half of `loud`), `.` silent, `-` between. */
function loudness(samples: Int16Array, durationMs: number, loud: number): string {
  let map = "";
  for (let from = 0; from + 100 <= durationMs; from += 100) {
    const l = level(samples, from, from + 100);
    map += l > loud / 2 ? "#" : l === 0 ? "." : "-";
  }
  return map;
}

/**
 * Reads the WAV of {@linkcode recordedCall} channel by channel: the caller's energy where they spoke,
 * the agent's where its audio was heard and silence after the clear, and the length within 40 ms of the
 * call's as its record says.
 */
export function assertRecordedCall(bytes: Uint8Array, call: RecordedCallFacts): void {
  const at = call.times;
  const wav = readWav(bytes);
  assert.equal(wav.sampleRate, 8000);
  assert.equal(wav.channels.length, 2);
  const [caller, agent] = wav.channels as [Int16Array, Int16Array];
  const durationMs = (caller.length / SAMPLE_RATE) * 1000;
  assert.ok(
    Math.abs(durationMs - call.durationMs) <= 40,
    `recording ${durationMs} ms, call record ${call.durationMs} ms`,
  );

  const callerLoud = Math.abs(decodeMulawSample(CALLER_BYTE));
  const agentLoud = Math.abs(decodeMulawSample(AGENT_BYTE));
  // Left: the caller's speech where Twilio's timestamps put it, and silence before and after it.
  assert.ok(
    level(caller, at.speechFrom + EDGE_MS, at.speechTo - EDGE_MS) > callerLoud * 0.8,
    "caller spoke",
  );
  assert.equal(level(caller, 0, at.speechFrom - EDGE_MS), 0, "caller silent before speaking");
  assert.equal(level(caller, at.speechTo + EDGE_MS, durationMs), 0, "caller silent after speaking");
  // Right: the greeting from where it played to the clear, silence before and after.
  const agentFrom = at.agentRuns[0]![0]; // where the greeting's first chunk played
  assert.equal(level(agent, 0, agentFrom - EDGE_MS), 0, "agent silent before the greeting played");
  // Loud where each run of its chunks played up to the clear, silent in any gap between runs.
  const heard = at.agentRuns.map(([from, to]): [number, number] => [from, Math.min(to, at.cutAt)])
    .filter(([from, to]) => to > from);
  const map = () => `by 100 ms from 0 (# loud, . silent): ${loudness(agent, durationMs, agentLoud)}`;
  assert.ok(
    heard.some(([from, to]) => to - from > 2 * EDGE_MS),
    `a run heard long enough to judge; ${map()}`,
  );
  heard.forEach(([from, to], i) => {
    if (to - from > 2 * EDGE_MS) {
      const heardLevel = level(agent, from + EDGE_MS, to - EDGE_MS);
      assert.ok(
        heardLevel > agentLoud * 0.8,
        `agent heard: level ${Math.round(heardLevel)} of ${agentLoud} between ${Math.round(from)} and ` +
          `${Math.round(to)} ms (tap); ${map()}`,
      );
    }
    const next = heard[i + 1];
    if (next !== undefined && next[0] - to > 2 * EDGE_MS) {
      assert.equal(
        level(agent, to + EDGE_MS, next[0] - EDGE_MS),
        0,
        `agent silent where Twilio ran dry; ${map()}`,
      );
    }
  });
  assert.equal(level(agent, at.cutAt + EDGE_MS, durationMs), 0, "agent silent after the clear");
  // Heard: about 1 s of a 3 s greeting, from its first chunk to the clear (a late mark echo moves the
  // next chunk's place later, so the runs' sum can read less than what was heard).
  const heardMs = at.cutAt - agentFrom;
  assert.ok(heardMs > 900 && heardMs < 1600, `greeting heard ${heardMs} ms`);
}

/** The route serves `bytes` for `callSid`: authenticated, `audio/wav`, whole and by byte ranges. */
export async function assertServedByRange(
  origin: string,
  callSid: string,
  apiToken: string,
  bytes: Uint8Array,
  state: string,
): Promise<void> {
  const url = `${origin}/api/calls/${callSid}/recording`;
  const denied = await fetch(url);
  await denied.body?.cancel();
  assert.equal(denied.status, 401);
  const auth = { Authorization: `Bearer ${apiToken}` };
  const whole = await fetch(url, { headers: auth });
  assert.equal(whole.status, 200);
  assert.equal(whole.headers.get("content-type"), "audio/wav");
  assert.equal(whole.headers.get("accept-ranges"), "bytes");
  assert.equal(whole.headers.get("x-recording-state"), state);
  assert.deepEqual(new Uint8Array(await whole.arrayBuffer()), bytes);
  const part = await fetch(url, { headers: { ...auth, Range: "bytes=100-199" } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-range"), `bytes 100-199/${bytes.length}`);
  assert.deepEqual(new Uint8Array(await part.arrayBuffer()), bytes.subarray(100, 200));
  const tail = await fetch(url, { headers: { ...auth, Range: "bytes=-10" } });
  assert.equal(tail.status, 206);
  assert.deepEqual(new Uint8Array(await tail.arrayBuffer()), bytes.subarray(bytes.length - 10));
  const past = await fetch(url, { headers: { ...auth, Range: `bytes=${bytes.length}-` } });
  await past.body?.cancel();
  assert.equal(past.status, 416);
  assert.equal(past.headers.get("content-range"), `bytes */${bytes.length}`);
}

/** The loud (non-zero) stretches of a decoded channel at 8 kHz, as `[fromMs, toMs)`. */
export function loudRuns(channel: Int16Array): [number, number][] {
  const runs: [number, number][] = [];
  for (let i = 0; i < channel.length; i++) {
    if (channel[i] === 0) continue;
    const from = i;
    while (i < channel.length && channel[i] !== 0) i++;
    runs.push([from / 8, i / 8]);
  }
  return runs;
}
