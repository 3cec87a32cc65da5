/**
 * Micro-benchmarks of Parley's per-frame code, to put a price on each step the relay bench's
 * profile shows: `deno bench bench/hot_path_bench.ts`.
 *
 * A caller frame or a mark echo in Twilio's exact shape takes the parser's fast path (one anchored
 * regex, no `JSON.parse`); the same text with a leading space shows what the full parse costs. An
 * audio delta has no fast path: a pattern that checks its base64 was slower than `JSON.parse`.
 *
 * @module
 */

import { isBase64 } from "../src/audio/base64.ts";
import { parseTwilioMessage, TwilioFrames } from "../src/twilio/media_stream.ts";
import { appendAudioEvent, parseRealtimeEvent } from "../src/engines/realtime/events.ts";
import { createRealtimeEngine } from "../src/engines/realtime/engine.ts";
import { PlaybackClock } from "../src/relay/playback_clock.ts";
import { createRelayCounters } from "../src/calls/relay_counters.ts";
import { BargeIn } from "../src/relay/barge_in.ts";
import { CallTap, type CallTapListener } from "../src/relay/frame_tap.ts";
import { TurnTimer } from "../src/relay/turn_timer.ts";
import { TwilioLeg } from "../src/relay/twilio_leg.ts";
import { framePayload } from "../testing/frames.ts";
import { CallRecorder } from "../src/recordings/call_recorder.ts";

const PAYLOAD = framePayload(123456, 7);
const MEDIA =
  `{"event":"media","sequenceNumber":"1234","streamSid":"MZ0123456789abcdef0123456789abcdef","media":{"track":"inbound","chunk":"1233","timestamp":"24660","payload":"${PAYLOAD}"}}`;
const MARK =
  `{"event":"mark","sequenceNumber":"1235","streamSid":"MZ0123456789abcdef0123456789abcdef","mark":{"name":"item_0_1:2460"}}`;
const DELTA =
  `{"type":"response.output_audio.delta","event_id":"event_1234","response_id":"resp_0_1","item_id":"item_0_1","output_index":0,"content_index":0,"delta":"${PAYLOAD}"}`;

let sink: unknown;

Deno.bench("parseTwilioMessage(media), Twilio's exact shape: fast path", { group: "twilio in" }, () => {
  sink = parseTwilioMessage(MEDIA);
});
const MEDIA_SPACED = ` ${MEDIA}`;
Deno.bench("parseTwilioMessage(media), any other shape: full parse", { group: "twilio in" }, () => {
  sink = parseTwilioMessage(MEDIA_SPACED);
});
Deno.bench("isBase64(payload)", { group: "twilio in" }, () => {
  sink = isBase64(PAYLOAD);
});
Deno.bench("parseTwilioMessage(mark echo), Twilio's exact shape: fast path", { group: "twilio in" }, () => {
  sink = parseTwilioMessage(MARK);
});
const MARK_SPACED = ` ${MARK}`;
Deno.bench("parseTwilioMessage(mark echo), any other shape: full parse", { group: "twilio in" }, () => {
  sink = parseTwilioMessage(MARK_SPACED);
});
Deno.bench("appendAudioEvent", { group: "twilio in" }, () => {
  sink = appendAudioEvent(PAYLOAD);
});

const reader = createRealtimeEngine("wss://api.openai.com/v1/realtime").reader(() => 0);
const keep = (event: unknown) => sink = event;
Deno.bench("Realtime reader (delta)", { group: "openai in" }, () => {
  reader.read(DELTA, keep);
});
Deno.bench("parseRealtimeEvent(delta)", { group: "openai in" }, () => {
  sink = parseRealtimeEvent(DELTA);
});

const frames = new TwilioFrames("MZ0123456789abcdef0123456789abcdef");
Deno.bench("TwilioFrames media + mark", { group: "openai in" }, () => {
  sink = frames.media(PAYLOAD) + frames.mark("item_0_1:2460");
});

Deno.bench("PlaybackClock sent + echo, ×1000", { group: "openai in" }, (b) => {
  const clock = new PlaybackClock();
  let now = 0;
  b.start();
  for (let i = 0; i < 1000; i++) {
    now += 20;
    const { endMark } = clock.sent("item_0_1", "resp_0_1", 20, now);
    if (endMark !== undefined) sink = clock.echo(endMark, now + 20);
  }
  b.end();
});

/** Agent audio through barge-in to a Twilio leg on an in-memory socket, ×1000, with or without a tap. */
function agentAudioRun(tap: CallTapListener | undefined): (b: Deno.BenchContext) => void {
  return (b) => {
    let now = 0;
    const socket = { readyState: 1, send() {}, close() {}, onmessage: null, onclose: null, onerror: null };
    const leg = new TwilioLeg(socket, { onMessage() {}, onClose() {} });
    leg.begin("MZ0123456789abcdef0123456789abcdef");
    const bargeIn = new BargeIn({
      leg,
      turns: new TurnTimer(() => {}),
      counters: createRelayCounters(),
      now: () => now,
      onCut() {},
    });
    if (tap !== undefined) bargeIn.tap = new CallTap(tap, 0);
    b.start();
    for (let i = 0; i < 1000; i++) {
      now += 20;
      bargeIn.agentAudio("resp_0_1", "item_0_1", PAYLOAD);
      if (i % 5 === 4) bargeIn.markEcho(`item_0_1:${(i + 1) * 20}`);
    }
    b.end();
  };
}

let tapped = 0;
const noOpTap: CallTapListener = {
  callerFrame(_at, payload) {
    tapped += payload.length;
  },
  agentAudio(_playAt, _itemId, _itemMs, payload) {
    tapped += payload.length;
  },
};
Deno.bench("agent audio ×1000, no tap", { group: "tap", baseline: true }, agentAudioRun(undefined));
Deno.bench("agent audio ×1000, a no-op tap listening", { group: "tap" }, agentAudioRun(noOpTap));

addEventListener("unload", () => {
  if (sink === Symbol() || tapped < 0) console.log(sink, tapped);
});

// The recorder (src/recordings/call_recorder.ts): one call-second (50 caller frames and 50 agent chunks of
// 20 ms, each decoded into its channel) and the writes it makes, to a sink that keeps nothing.
const discard = { write() {}, finish() {} };
let recorderAt = 0;
const recorder = new CallRecorder(discard);
Deno.bench("recorder: one call-second (50 caller frames + 50 agent chunks)", { group: "recorder" }, () => {
  for (let i = 0; i < 50; i++) {
    recorder.callerFrame(recorderAt, PAYLOAD);
    recorder.agentAudio(recorderAt + 100, "item", 0, PAYLOAD);
    recorderAt += 20;
  }
});
