/**
 * What the barge-in tests share (barge_in_test.ts, barge_in_random_test.ts): the test personas, the
 * environment they run in, and a count of the frames of an answer sent after a point.
 */

import { fromBase64 } from "../../testing/fake_realtime.ts";
import type { FakeTwilioCall } from "../../testing/fake_twilio.ts";

/** The folder of the test personas (`tester`, `quiet`, …). */
export const TESTDATA_PERSONAS = new URL("../testdata/personas/", import.meta.url).pathname;
/** The environment of a Parley whose default persona is `tester`. */
export const testEnv = { DEFAULT_PERSONA: "tester" };

/** Media frames after index `from` whose audio contains `value`. */
export function framesWith(call: FakeTwilioCall, value: number, from: number): number {
  return call.received.slice(from).filter((m) =>
    m.event === "media" && fromBase64(m.media.payload).includes(value)
  )
    .length;
}
