/**
 * The check a fault test makes in the middle of its fault: the call still works both ways.
 *
 * @module
 */

import { type FakeRealtimeSession, toneBytes } from "./fake_realtime.ts";
import type { FakeTwilioCall } from "./fake_twilio.ts";
import { within } from "./within.ts";

/** What {@linkcode callGoesOnBothWays} sends and how it names the moment. */
export interface BothWaysOptions {
  /** The answer's ids. @default "r2", "i2" */
  responseId?: string;
  itemId?: string;
  /** The answer's transcript, if any. */
  transcript?: string;
  /** Sends a caller frame of its own; false when the test's caller already sends frames. @default true */
  callerFrame?: boolean;
  /** Names the moment in failure messages, e.g. "while the disk refuses". */
  when: string;
}

/**
 * Resolves once an answer `session` streams now reaches `call` and a caller frame sent now reaches
 * `session`; rejects (naming `when`) if either does not come within the default wait.
 *
 * @example
 * ```ts
 * await callGoesOnBothWays(call, session, { when: "while Postgres is down" });
 * ```
 */
export async function callGoesOnBothWays(
  call: FakeTwilioCall,
  session: FakeRealtimeSession,
  options: BothWaysOptions,
): Promise<void> {
  const heard = call.received.length;
  await session.streamResponse({
    responseId: options.responseId ?? "r2",
    itemId: options.itemId ?? "i2",
    audio: toneBytes(100, 5),
    ...(options.transcript === undefined ? {} : { transcript: options.transcript }),
  });
  await within(
    call.waitFor("media", (m) => call.received.indexOf(m) >= heard),
    `agent audio ${options.when}`,
  );
  const sent = session.eventsOf("input_audio_buffer.append").length;
  if (options.callerFrame ?? true) call.sendMedia(new Uint8Array(160).fill(9));
  await within(
    session.waitFor(
      "input_audio_buffer.append",
      () => session.eventsOf("input_audio_buffer.append").length > sent,
    ),
    `caller audio ${options.when}`,
  );
}
