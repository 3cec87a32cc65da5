/**
 * What a call relay is given by the server ({@linkcode CallRelayOptions}) and what it offers back
 * ({@linkcode CallRelay}).
 *
 * @module
 */

import type { CallEventListener } from "../calls/call_events.ts";
import type { RelayCounters } from "../calls/relay_counters.ts";
import type { EngineChooser } from "../engines/registry.ts";
import type { UpstreamConnector } from "../engines/upstream_socket.ts";
import type { Logger } from "../log.ts";
import type { PersonaRegistry } from "../personas/types.ts";
import type { FrameTap } from "./frame_tap.ts";
import type { Prewarm } from "./prewarmed_session.ts";

/** What a relay needs from the server. */
export interface CallRelayOptions {
  /** Picks the engine serving a model. */
  engineFor: EngineChooser;
  /** Model used unless the persona names one. */
  defaultModel: string;
  /** OpenAI key. */
  apiKey: string;
  /** The personas, looked up at `start`. */
  personas: PersonaRegistry;
  /** Persona id used when the stream names none (or an unknown one). */
  defaultPersona: string;
  /** Opens the upstream socket. */
  connectUpstream: UpstreamConnector;
  /** Log lines. */
  log: Logger;
  /** Call events for the store, metrics and live feeds. */
  onEvent: CallEventListener;
  /** Hot-path counters. */
  counters: RelayCounters;
  /** Close a socket that sends no `start` within this many ms. @default 10000 */
  startTimeoutMs?: number;
  /** The CallSid the stream token was issued for: a `start` for any other call is refused. */
  expectedCallSid?: string;
  /** A session that owes an answer and stays silent this long is replaced, ms. @default 15000 */
  stallMs?: number;
  /** A session this old is replaced at the next quiet moment, ms. @default 55 minutes */
  sessionRolloverMs?: number;
  /** The session pre-warmed for that CallSid on the webhook, claimed by the stream token. */
  prewarm?: Prewarm;
  /** Observers of the call's audio (`frame_tap.ts`), asked at `start`. */
  tap?: FrameTap;
  /** Monotonic clock, ms. @default performance.now */
  now?: () => number;
  /** Wall clock for event timestamps, epoch ms. @default Date.now */
  wallClock?: () => number;
}

/** A running relay. */
export interface CallRelay {
  /** Short id used in log lines before the CallSid is known. */
  readonly connectionId: string;
  /** Resolves when the call has ended and both sockets are closed or closing. */
  readonly done: Promise<void>;
  /** Ends the call (server shutdown). */
  shutdown(): void;
  /** Twilio's answering-machine result for this call (`AnsweredBy`): may leave a voicemail. */
  machineAnswered(answeredBy: string): void;
  /**
   * Ends the call because a user hung it up from the page or the API (`hung_up_by_user`): the
   * stream is closed, so Twilio goes on to the `<Connect action>` and the softphone's page hears
   * the socket close.
   */
  hangUp(): void;
  /**
   * A user asked Twilio to hang this call up (from the page or the API): the `stop` or close that
   * follows is recorded as `hung_up_by_user`, not `caller_hung_up`.
   */
  userHangingUp(): void;
}
