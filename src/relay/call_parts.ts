/**
 * The parts of one call, shared by the relay (`call_relay.ts`) and its halves: the caller's frames
 * upstream (`caller_side.ts`) and the engine's events to Twilio (`agent_side.ts`).
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { StreamStart } from "../twilio/media_stream.ts";
import type { CallActions } from "./actions.ts";
import type { BargeIn } from "./barge_in.ts";
import type { CallReporter } from "./call_reporter.ts";
import type { CallerAudioGate } from "./caller_audio_gate.ts";
import type { CallTap } from "./frame_tap.ts";
import type { CallRelayOptions } from "./relay_options.ts";
import type { SessionKeeper } from "./session_keeper.ts";
import type { TurnTimer } from "./turn_timer.ts";
import type { TwilioLeg } from "./twilio_leg.ts";
import type { UpstreamSession } from "./upstream_session.ts";

/** One call's parts: fixed for the call, but for the session, the stream and what `start` adds. */
export interface CallParts {
  /** Short id used in log lines before the CallSid is known. */
  readonly connectionId: string;
  readonly options: CallRelayOptions;
  readonly log: Logger;
  /** Monotonic clock, ms. */
  readonly now: () => number;
  readonly leg: TwilioLeg;
  readonly bargeIn: BargeIn;
  readonly turns: TurnTimer;
  readonly report: CallReporter;
  readonly gate: CallerAudioGate;
  /** Set once, by the upstream link (`upstream_link.ts`), which it keeps. */
  keeper: SessionKeeper;
  /** The session serving the call now (replaced on a reconnect). */
  session: UpstreamSession;
  /** The stream's `start`, once it came. */
  start: StreamStart | undefined;
  /** Tools, keypad and voicemail, from `start` on. */
  actions: CallActions | undefined;
  /** The frame tap, when someone listens. */
  tap: CallTap | undefined;
}
