/**
 * Flooding media sockets for `deno task bench --flood`: each is a real call (signed webhook, its own
 * stream token, `start`) that then sends caller frames far faster than real time — 100 frames every
 * 20 ms, 100× what Twilio sends — as the issue's probe did. Parley must keep its memory bounded and
 * its healthy calls' latency near the no-flood run. The fake upstream sees them as probe sessions,
 * and their frames carry no known id, so they never count as a healthy call's frames.
 *
 * @module
 */

import type { FakeTwilioCall } from "../testing/fake_twilio.ts";
import { connectStream, newCallSid, postVoiceWebhook, type TwilioTarget } from "../testing/twilio_webhook.ts";
import type { BenchUpstream } from "./_realtime_upstream.ts";
import { framePayload, UNKNOWN_CALL } from "../testing/frames.ts";

/** Frames each flooding socket sends per 20 ms tick. */
export const FLOOD_FRAMES_PER_TICK = 100;

/** Flooding sockets, running until {@linkcode Flood.stop}. */
export class Flood {
  /** Frames sent by all flooding sockets. */
  framesSent = 0;
  readonly #calls: FakeTwilioCall[];
  readonly #timer: ReturnType<typeof setInterval>;

  private constructor(calls: FakeTwilioCall[]) {
    this.#calls = calls;
    const frames = calls.map((call) =>
      JSON.stringify({
        event: "media",
        streamSid: call.streamSid,
        media: { track: "inbound", payload: framePayload(0x7fffffff, UNKNOWN_CALL) },
      })
    );
    this.#timer = setInterval(() => {
      for (const [i, call] of calls.entries()) {
        for (let n = 0; n < FLOOD_FRAMES_PER_TICK; n++) call.sendRaw(frames[i]!);
        this.framesSent += FLOOD_FRAMES_PER_TICK;
      }
    }, 20);
  }

  /** Opens `count` calls against `target` and starts flooding. */
  static async start(target: TwilioTarget, fake: BenchUpstream, count: number): Promise<Flood> {
    const calls: FakeTwilioCall[] = [];
    for (let i = 0; i < count; i++) {
      const callSid = newCallSid();
      const { streamUrl } = await postVoiceWebhook(target, callSid);
      if (streamUrl === undefined) throw new Error("Flood: the voice webhook answered no stream");
      fake.expectProbe();
      const call = await connectStream(target, streamUrl, callSid);
      call.start({});
      calls.push(call);
    }
    return new Flood(calls);
  }

  /** Stops flooding and hangs up. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    for (const call of this.#calls) call.close();
    await Promise.all(this.#calls.map((call) => call.closed));
  }
}
